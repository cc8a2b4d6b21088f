"""A production-like stack on this machine: PostgreSQL, `dagster-webserver` and
`dagster-daemon` with the production instance (deploy/dagster.yaml: PostgreSQL storage,
QueuedRunCoordinator; the run launcher swapped for the default one, as no cluster runs
here), and the code location served by the platform image in a container. A run launched
through the webserver's GraphQL API is queued, dequeued by the daemon, launched on the
code server in the container, and succeeds there, its events stored in PostgreSQL."""

import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ml_assets.keys import ingest_job_name
from tests.dagster_dev import graphql, wait_until_loaded
from tests.images.podman import PLATFORM_IMAGE, container, wait_serving
from tests.postgres import create_database, postgres_server
from tests.processes import free_port, running

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOB = ingest_job_name("flight_delays")
DAY = "2013-01-02"


def production_instance(home: Path, database_url: str) -> dict[str, str]:
    """deploy/dagster.yaml in `home` with the default run launcher (runs start on the code
    server), and the environment its PostgreSQL settings read."""
    instance = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    instance["run_launcher"] = {
        "module": "dagster.core.launcher",
        "class": "DefaultRunLauncher",
    }
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    server, database = database_url.rsplit("/", 1)
    host_port = server.rsplit("@", 1)[1]
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "unused",  # trust authentication on the loopback
        "DAGSTER_PG_HOST": host_port.split(":")[0],
        "DAGSTER_PG_PORT": host_port.split(":")[1],
        "DAGSTER_PG_DB": database,
    }


LAUNCH = """mutation { launchRun(executionParams: {
  selector: {repositoryLocationName: "ml_assets", repositoryName: "__repository__",
             jobName: "%s"},
  executionMetadata: {tags: [{key: "dagster/partition", value: "%s"}]}
}) { __typename
     ... on LaunchRunSuccess { run { runId status } }
     ... on PythonError { message }
     ... on RunConfigValidationInvalid { errors { message } } } }"""

RUN = """{ runOrError(runId: "%s") { __typename ... on Run { status
  assetMaterializations { assetKey { path } partition } } } }"""


def wait_finished(url: str, run_id: str, seconds: float) -> tuple[dict[str, Any], list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = graphql(url, RUN % run_id)["runOrError"]
        if not seen or seen[-1] != run["status"]:
            seen.append(run["status"])
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run, seen
        time.sleep(1)
    raise TimeoutError(f"run {run_id} did not finish in {seconds} s: {seen}")


def test_a_run_launched_over_graphql_finishes_in_the_platform_image(tmp_path: Path) -> None:
    grpc_port, web_port = free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "grpc_server": {
                            "host": "127.0.0.1",
                            "port": grpc_port,
                            "location_name": "ml_assets",
                        }
                    }
                ]
            }
        )
    )
    code_server = ["dagster", "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port)]
    with postgres_server() as server:
        env = {
            **production_instance(tmp_path / "home", create_database(server, "dagster")),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PATH": f"{BIN}:/usr/bin:/bin",
        }
        webserver = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port)]
        daemon = [str(BIN / "dagster-daemon"), "run"]
        workspace = ["-w", str(tmp_path / "workspace.yaml")]
        # The run worker the code server starts reads the instance's PostgreSQL settings
        # from its own environment, as a run pod does from the ConfigMap.
        pg = {k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")}
        argv = [*code_server, "-m", "ml_assets.definitions"]
        with container(PLATFORM_IMAGE, argv, tmp_path / "c.log", pg) as code:
            # The webserver reads the workspace once at start: a code server still loading
            # then would stay an unreachable location (as in a pod's readiness, wait first).
            wait_serving(grpc_port, tmp_path / "c.log", code, 300)
            with (
                running([*webserver, *workspace], env, tmp_path, tmp_path / "web.log") as web,
                running([*daemon, *workspace], env, tmp_path, tmp_path / "daemon.log"),
            ):
                wait_until_loaded(url, web, tmp_path / "web.log")
                launched = graphql(url, LAUNCH % (JOB, DAY))["launchRun"]
                assert launched["__typename"] == "LaunchRunSuccess", launched
                assert launched["run"]["status"] == "QUEUED"  # the coordinator's queue
                run, seen = wait_finished(url, launched["run"]["runId"], 300)
        logs = "\n".join(
            f"--- {name}\n{(tmp_path / name).read_text()[-3000:]}"
            for name in ("c.log", "daemon.log")
        )
        assert run["status"] == "SUCCESS", f"{seen}\n{logs}"
        assert "STARTED" in seen or "STARTING" in seen, seen
        materialized = {
            (tuple(m["assetKey"]["path"]), m["partition"]) for m in run["assetMaterializations"]
        }
        assert (("flight_delays", "raw_flights"), DAY) in materialized, materialized

"""`dagster dev` for tests: a fresh instance in a temporary folder, trained with `mlap`,
served on 127.0.0.1 and stopped with SIGINT (as Ctrl-C would) at the end."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from ml_assets.environment import TELEMETRY_OFF
from tests.conftest import FLIGHT_DELAYS_YAML, PROJECT_ROOT
from tests.processes import free_port

BIN = Path(sys.executable).parent
DAGSTER_DEV = [str(BIN / "dagster"), "dev", "-h", "127.0.0.1"]

FIRST_DAY, AS_OF = "2013-02-25", "2013-03-05"
TINY_TRAINING = {
    "as_of": AS_OF,
    "train_days": 5,
    "validation_days": 2,
    "test_days": 2,
    "max_train_rows": 3000,
    "tuning": {"n_trials": 2},
    "candidates": {
        "logistic_regression": {"enabled": False},
        "hist_gradient_boosting": {"enabled": False},
        "xgboost": {"params": {"n_estimators": 40}},
    },
}
SENSOR_RUNS_QUERY = """{ runsOrError(filter: {tags: [{key: "dagster/sensor_name",
  value: "%s"}]}) { ... on Runs { results { runId status jobName tags { key value } } } } }"""


def isolated_env(root: Path) -> dict[str, str]:
    """This process's environment with every platform path pointing into `root`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLAP_", "DAGSTER_", "BENTOML_"))
    }
    state = root / "state"
    return (
        env
        | TELEMETRY_OFF
        | {
            "MLAP_STATE_DIR": str(state),
            "MLAP_PIPELINES_DIR": str(root / "pipelines"),
            "DAGSTER_HOME": str(state / "dagster_home"),
            "BENTOML_HOME": str(state / "bentoml"),
        }
    )


def write_tiny_pipeline(folder: Path) -> None:
    folder.mkdir(parents=True)
    config = {
        "extends": str(FLIGHT_DELAYS_YAML),
        "training": TINY_TRAINING,
        # One family on five days: the UI and the daemon are under test, not model quality.
        "promotion": {"baselines": ["majority_class"]},
        # The daemon's test waits for the arrival sensor's tick.
        "monitoring": {"arrival_interval_seconds": 5},
    }
    (folder / "flight_delays.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def run_mlap(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "mlap"), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"mlap {' '.join(args)} failed:\n{output}"


def graphql(base_url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload["errors"]
    return dict(payload["data"])


WORKSPACE_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def wait_until_loaded(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until the code location is loaded; fails at once if it cannot load or the UI exits."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited:\n{log.read_text()[-3000:]}"
        try:
            workspace = graphql(base_url, WORKSPACE_QUERY)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError):
            time.sleep(1)
            continue
        for entry in workspace.get("locationEntries", []):
            location = entry["locationOrLoadError"] or {}
            assert location.get("__typename") != "PythonError", location.get("message")
            if entry["loadStatus"] == "LOADED" and location.get("__typename"):
                return
        time.sleep(1)
    raise AssertionError(f"the UI did not load the code location in 180 s:\n{log.read_text()}")


def interruptible() -> None:
    """A background job (e.g. `make test &` without job control) ignores SIGINT, and so
    would every process it starts; `stop` relies on SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGINT to the whole group, as Ctrl-C would: SIGTERM would orphan the code server."""
    try:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    except ProcessLookupError:
        pass


def trained_instance(root: Path) -> dict[str, str]:
    """The environment of a fresh instance under `root` with nine days (FIRST_DAY to AS_OF)
    ingested and one small model trained, evaluated and promoted."""
    write_tiny_pipeline(root / "pipelines")
    env = isolated_env(root)
    run_mlap(env, "backfill", "flight_delays", "--start", FIRST_DAY, "--end", AS_OF)
    run_mlap(env, "train", "flight_delays")
    return env


@contextmanager
def dagster_dev(env: dict[str, str]) -> Iterator[str]:
    """`dagster dev` (UI and daemon) on the project's workspace.yaml; yields its URL once
    the code location has loaded."""
    port = free_port()
    log = Path(env["MLAP_STATE_DIR"]) / "dagster-dev.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*DAGSTER_DEV, "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=interruptible,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_loaded(base_url, server, log)
        yield base_url
    finally:
        stop(server)


def sensor_runs(base_url: str, sensor: str) -> list[dict[str, Any]]:
    """The runs `sensor` started, newest first, with their tags as a dict."""
    runs = graphql(base_url, SENSOR_RUNS_QUERY % sensor)["runsOrError"]["results"]
    return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in runs]


def wait_for_finished_run(base_url: str, sensor: str, timeout: float) -> dict[str, Any]:
    """The first run `sensor` started, once finished (the run imports the code location
    in its own process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = sensor_runs(base_url, sensor)
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(2)
    raise AssertionError(f"{sensor} started no finished run in {timeout:.0f} s")

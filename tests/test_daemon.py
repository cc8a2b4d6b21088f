"""The automation wiring with the real daemon, not the in-process loop.

`dagster dev` (webserver and daemon) serves the real code location from workspace.yaml on
127.0.0.1, over a fresh instance with nine days ingested and one small model trained.
`mlap replay` drops one day's file into the landing zone; the daemon's arrival sensor must
start a run of the daily job for that day, and that run must succeed with the day's
predictions and drift report in the lake.
"""

import time
from pathlib import Path
from typing import Any

import pytest

from tests.dagster_dev import dagster_dev, graphql, run_mlap, trained_instance

pytestmark = pytest.mark.slow

ARRIVED_DAY = "2013-03-06"  # the day after the trained instance's last partition
SENSOR = "flight_delays__arrival_sensor"
SENSOR_RUNS_QUERY = """{ runsOrError(filter: {tags: [{key: "dagster/sensor_name",
  value: "%s"}]}) { ... on Runs { results { runId status jobName tags { key value } } } } }"""


def sensor_runs(base_url: str) -> list[dict[str, Any]]:
    runs = graphql(base_url, SENSOR_RUNS_QUERY % SENSOR)["runsOrError"]["results"]
    return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in runs]


def wait_for_finished_run(base_url: str, timeout: float) -> dict[str, Any]:
    """The arrival sensor's first run, once finished (the sensor ticks every 30 s and the
    run imports the code location in its own process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = sensor_runs(base_url)
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(2)
    raise AssertionError(f"the arrival sensor started no finished run in {timeout:.0f} s")


@pytest.fixture(scope="module")
def instance_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return trained_instance(tmp_path_factory.mktemp("daemon"))


def test_a_landed_file_becomes_a_successful_daily_run(instance_env: dict[str, str]) -> None:
    with dagster_dev(instance_env) as base_url:
        assert sensor_runs(base_url) == []
        run_mlap(
            instance_env, "replay", "flight_delays", "--start", ARRIVED_DAY,
            "--end", ARRIVED_DAY, "--speed", "0",
        )  # fmt: skip
        run = wait_for_finished_run(base_url, timeout=420)
        assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}"
        assert run["jobName"] == "flight_delays__daily"
        assert run["tags"]["dagster/partition"] == ARRIVED_DAY
        assert run["tags"]["dagster/run_key"].startswith(f"{ARRIVED_DAY}.csv:")
        assert len(sensor_runs(base_url)) == 1

    lake = Path(instance_env["MLAP_STATE_DIR"]) / "lake" / "flight_delays"
    assert (lake / "batch_predictions" / f"{ARRIVED_DAY}.parquet").exists()
    assert (lake / "drift_report_html" / f"{ARRIVED_DAY}.html").exists()

"""Tier 3: the code location loads, and a snapshot of its graph makes changes visible in review."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import Definitions, in_process_executor

from tests.conftest import PROJECT_ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


@pytest.fixture(scope="module")
def defs() -> Definitions:
    """The code location as workspace.yaml loads it: the repository's pipelines folder."""
    from ml_assets.definitions import build_definitions

    return build_definitions()


def graph_snapshot(defs: Definitions) -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitioned": node.partitions_def is not None,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "blocking_checks": sorted(
                c.name
                for c in node.check_keys
                if graph.get(c).blocking  # type: ignore[attr-defined]
            ),
            "kinds": sorted(node.kinds),
            "code_version": node.code_version,
        }
    jobs = sorted(j.name for j in defs.jobs)  # type: ignore[union-attr]
    sensors = {
        s.name: {"jobs": sorted(j.name for j in s.jobs) if s.has_jobs else []}
        for s in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    return {"assets": assets, "jobs": jobs, "sensors": sensors}


def test_asset_graph_matches_snapshot(defs: Definitions) -> None:
    current = graph_snapshot(defs)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, "graph changed: review it, then rerun with UPDATE_SNAPSHOTS=1"


def test_every_asset_is_described_grouped_and_owned(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = graph.get(key)
        assert spec.description and len(spec.description) > 60, key
        assert spec.group_name in {
            "datasets",
            "features",
            "models",
            "evaluation",
            "deployment",
            "monitoring",
            "audit",
        }, key
        assert spec.owners, key


def test_sensors_of_the_loop_are_defined_and_running_by_default(defs: Definitions) -> None:
    from dagster import DefaultSensorStatus

    sensors = {s.name: s for s in defs.sensors or []}
    assert set(sensors) == {
        "flight_delays__arrival_sensor",
        "flight_delays__retrain_sensor",
        "flight_delays__inference_log_sensor",
        "flight_delays__conclude_experiment_sensor",
        "flight_delays__redeploy_sensor",
        "alert_on_checks_and_decisions",
        "alert_on_run_failure",
    }
    assert all(s.default_status == DefaultSensorStatus.RUNNING for s in sensors.values())
    assert sensors["flight_delays__arrival_sensor"].job_name == "flight_delays__daily"
    assert sensors["flight_delays__retrain_sensor"].job_name == "flight_delays__train"
    served = sensors["flight_delays__inference_log_sensor"]
    assert served.job_name == "flight_delays__served_traffic"
    concluding = sensors["flight_delays__conclude_experiment_sensor"]
    assert concluding.job_name == "flight_delays__conclude_experiment"
    # Decisions made outside training (rollback, experiment, promotion) rebuild the bento.
    redeploy = sensors["flight_delays__redeploy_sensor"]
    assert redeploy.job_name == "flight_delays__deploy"
    deploy = defs.resolve_job_def("flight_delays__deploy")
    assert {k.path[-1] for k in deploy.asset_layer.selected_asset_keys} == {
        "champion_bento",
        "passport",
    }
    # A day's arrival judges its served traffic too, a running experiment included.
    daily = defs.resolve_job_def("flight_delays__daily")
    selected = {key.path[-1] for key in daily.asset_layer.selected_asset_keys}
    assert {"inference_log", "served_drift", "served_performance", "ab_test"} <= selected
    served_traffic = defs.resolve_job_def("flight_delays__served_traffic")
    assert "served_drift" in {k.path[-1] for k in served_traffic.asset_layer.selected_asset_keys}


def test_local_runs_execute_in_process(defs: Definitions) -> None:
    job = defs.resolve_job_def("flight_delays__ingest")
    assert job.executor_def is in_process_executor


def test_workspace_loads_with_the_dagster_cli() -> None:
    """What `dagster dev` does first: load workspace.yaml's code location in a fresh process."""
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1"}
    begun = time.perf_counter()
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(f"dagster definitions validate took {time.perf_counter() - begun:.1f} s")
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "ml_assets" in output

"""Tier 4: the alerting sensors over a real instance, delivering to a real HTTP receiver.

A tiny code location stands in for a pipeline: an asset with an error-severity check and
a warning-severity check, and a `champion_model` asset whose metadata carries a decision
next to Dagster's own entries (a column schema), as the real champion asset's does.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    DagsterEventType,
    Definitions,
    MaterializeResult,
    TableColumn,
    TableSchema,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    define_asset_job,
    job,
    materialize,
    op,
)

from resources.alerts import AlertsResource
from sensors.alerting import build_alert_sensors
from tests.helpers import local_test_instance
from tests.receivers import HttpReceiver, http_receiver

ALERTS_YAML = """
dedup_window_minutes: 60
escalate_after: 3
channels:
  log: {kind: log}
  webhook: {kind: webhook, url_env: SENSOR_TEST_WEBHOOK}
routes:
  info: {channels: [log, webhook]}
  warning: {channels: [log, webhook]}
  error: {channels: [log, webhook]}
"""


@asset(key=["demo", "drift_report"])
def drift_report() -> int:
    return 1


@asset_check(asset=drift_report, name="feature_drift")
def feature_drift() -> AssetCheckResult:
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.ERROR, description="5 of 20 columns drifted"
    )


@asset_check(asset=drift_report, name="minor_wobble")
def minor_wobble() -> AssetCheckResult:
    return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN)


@asset(key=["demo", "champion_model"])
def champion_model(context: AssetExecutionContext) -> MaterializeResult:
    schema = TableSchema(columns=[TableColumn("version", "string")])
    return MaterializeResult(
        metadata={
            "action": "promote",
            "reason": "challenger wins by 0.02",
            "champion_version": "2",
            "dagster/column_schema": schema,
        }
    )


@op
def load_the_day() -> None:
    raise RuntimeError("weather file for 2013-06-20 is truncated")


@job(name="demo__daily")
def failing_job() -> None:
    load_the_day()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpReceiver]:
    with http_receiver() as http:
        monkeypatch.setenv("SENSOR_TEST_WEBHOOK", http.url("/hook"))
        yield http


@pytest.fixture
def defs(tmp_path: Path) -> Definitions:
    (tmp_path / "alerts.yaml").write_text(ALERTS_YAML)
    alerts = AlertsResource(
        config_path=str(tmp_path / "alerts.yaml"), state_path=str(tmp_path / "alerts.db")
    )
    return Definitions(
        assets=[drift_report, champion_model],
        asset_checks=[feature_drift, minor_wobble],
        jobs=[define_asset_job("demo_job")],
        sensors=build_alert_sensors(["demo"]),
        resources={"alerts": alerts},
    )


def tick(defs: Definitions, instance, cursor: str | None):  # type: ignore[no-untyped-def]
    sensor = defs.get_sensor_def("alert_on_checks_and_decisions")
    context = build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    )
    return sensor.evaluate_tick(context)


def test_failed_error_checks_and_decisions_reach_the_webhook_once(
    defs: Definitions, receiver: HttpReceiver, tmp_path: Path
) -> None:
    with local_test_instance(temp_dir=str(tmp_path)) as instance:
        assets = [drift_report, champion_model, feature_drift, minor_wobble]
        decided = materialize(assets, instance=instance)
        assert decided.success
        first = tick(defs, instance, None)
        posted = {body["key"]: body for body in receiver.bodies("/hook")}
        promoted = f"demo/decision:promote:2:{decided.run_id[:8]}"
        assert set(posted) == {"demo/drift_report:feature_drift", promoted}
        assert posted["demo/drift_report:feature_drift"]["severity"] == "error"
        decision = posted[promoted]
        assert decision["details"]["reason"] == "challenger wins by 0.02"
        assert "dagster/column_schema" not in decision["details"]

        again = tick(defs, instance, first.cursor)
        assert again.skip_message == "no failed error-severity checks and no decisions"
        assert len(receiver.received) == 2
        assert json.loads(again.cursor) == json.loads(first.cursor)

        assert materialize([drift_report, feature_drift], instance=instance).success
        third = tick(defs, instance, again.cursor)
        assert third.skip_message != again.skip_message
        # The same check failing again within the window is de-duplicated by the resource.
        assert len(receiver.received) == 2
        assert json.loads(third.cursor)["checks"] != json.loads(again.cursor)["checks"]

        # A second decision making the same version champion is a new event: announced.
        redecided = materialize([champion_model], instance=instance)
        tick(defs, instance, third.cursor)
        assert [body["key"] for body in receiver.bodies("/hook")[2:]] == [
            f"demo/decision:promote:2:{redecided.run_id[:8]}"
        ]


def test_a_failed_run_reaches_the_webhook_with_its_error(
    defs: Definitions, receiver: HttpReceiver, tmp_path: Path
) -> None:
    with local_test_instance(temp_dir=str(tmp_path)) as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        (entry,) = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        failure = entry.dagster_event
        assert failure is not None
        sensor = defs.get_sensor_def("alert_on_run_failure")
        context = build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources=defs.resources,
        ).for_run_failure()
        sensor(context)  # type: ignore[call-arg]
        (posted,) = receiver.bodies("/hook")
        assert posted["key"] == "run_failed:demo__daily"
        assert posted["severity"] == "error"
        assert posted["pipeline"] == "demo"
        assert posted["details"]["run_id"] == result.run_id
        assert "load_the_day" in posted["body"]

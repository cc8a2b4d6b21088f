"""Tier 4, then the runs the sensors ask for: the live loop's two decisions executed for
real on the trained scene (tests/trained_scene.py: two registered versions in a real
MLflow registry, the live days 2013-03-19 and -20 ingested, a Dagster instance on disk).

- Served A/B traffic in the inference log -> `ab_test` day by day (in the inference-log
  sensor's job, then in the daily job) -> the experiment sensor -> the conclude job, run
  with the sensor's own run config and tags.
- Slow answers of the champion in the log -> the rollback sensor -> the rollback job,
  run with the sensor's own run config and tags.

Each is judged by its effect: the registry's aliases, the hash-chained decision log
verified against the head anchored in the registry, the MLflow tags, the passport, the
alert that the alert sensor delivers to a real local webhook, and the log files of the bad
period still in the lake.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import (
    Definitions,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
)

from ml_assets.keys import (
    conclude_experiment_job_name,
    daily_job_name,
    deploy_job_name,
    model_key,
    rollback_job_name,
    served_traffic_job_name,
)
from ml_assets.lib.config.rollback import RollbackConfig
from ml_assets.lib.decision_log import Entry, read, verify
from ml_assets.lib.experiment_evidence import experiment_id
from ml_assets.lib.experiment_record import ExperimentRecord, read_current, write_current
from ml_assets.lib.inference_log import ScoredBatch, log_days, log_frame, write_log
from ml_assets.lib.scoring import serving_columns
from ml_assets.run_tags import DEPLOYS_ITSELF_TAG
from resources.alerts import AlertsResource
from resources.model_registry import CHAMPION, PREVIOUS_CHAMPION
from sensors.experiment import experiment_sensor_name
from sensors.redeploy import redeploy_sensor_name
from sensors.rollback import rollback_sensor_name
from tests.ab_traffic import ENTITY_KEY, ab_batches
from tests.receivers import http_receiver
from tests.test_model_lifecycle import Lifecycle
from tests.trained_scene import LIVE

PIPELINE = "flight_delays"
ALERTS_YAML = """
dedup_window_minutes: 60
escalate_after: 3
channels:
  log: {kind: log}
  webhook: {kind: webhook, url_env: LIVE_DECISIONS_WEBHOOK}
routes:
  info: {channels: [log, webhook]}
  warning: {channels: [log, webhook]}
  error: {channels: [log, webhook]}
"""


class Alerting:
    """The scene's alert sensor sending through an alerts resource of its own (state in a
    temporary folder) to a real local webhook. `ticked()` evaluates the sensor from the
    last cursor and gives the bodies that reached the webhook; built with one tick, which
    consumes what the scene decided before the test."""

    def __init__(self, scene: Lifecycle, defs: Definitions, alerts: AlertsResource, http: Any):
        self.scene, self.defs, self.alerts, self.http = scene, defs, alerts, http
        self.cursor: str | None = None
        self.ticked()

    def ticked(self) -> list[dict[str, Any]]:
        before = len(self.http.bodies("/hook"))
        sensor = self.defs.get_sensor_def("alert_on_checks_and_decisions")
        context = build_sensor_context(
            instance=self.scene.instance,
            cursor=self.cursor,
            resources={**(self.defs.resources or {}), "alerts": self.alerts},
            definitions=self.defs,
        )
        self.cursor = sensor.evaluate_tick(context).cursor
        return list(self.http.bodies("/hook")[before:])


@pytest.fixture
def alerting(
    scene: Lifecycle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Alerting]:
    (tmp_path / "alerts.yaml").write_text(ALERTS_YAML)
    alerts = AlertsResource(
        config_path=str(tmp_path / "alerts.yaml"), state_path=str(tmp_path / "alerts.db")
    )
    with http_receiver() as http:
        monkeypatch.setenv("LIVE_DECISIONS_WEBHOOK", http.url("/hook"))
        yield Alerting(scene, scene.defs(scene.config), alerts, http)


def _tick(defs: Definitions, scene: Lifecycle, sensor_name: str) -> RunRequest:
    sensor = defs.get_sensor_def(sensor_name)
    context = build_sensor_context(
        instance=scene.instance, resources=dict(defs.resources or {}), definitions=defs
    )
    result = sensor.evaluate_tick(context)
    assert len(result.run_requests or []) == 1, result.skip_message
    return result.run_requests[0]  # type: ignore[index]


def _run(defs: Definitions, scene: Lifecycle, job_name: str, request: RunRequest) -> Any:
    """The job as the daemon would launch it for `request`: its run config and tags."""
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        run_config=request.run_config,
        tags=request.tags,
        instance=scene.instance,
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def _redeployed(defs: Definitions, scene: Lifecycle, decided: Any) -> dict[str, dict[str, Any]]:
    """The redeploy sensor on the decision run's success, then the deploy run it asks for,
    as the daemon would launch it: the metadata of what that run materialised."""
    sensor = defs.get_sensor_def(redeploy_sensor_name(PIPELINE))

    def evaluated(run: Any) -> Any:
        context = build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=decided.get_run_success_event(),
            dagster_instance=scene.instance,
            dagster_run=run,
            repository_def=defs.get_repository_def(),
        )
        return sensor(context)  # type: ignore[operator]

    # A decision whose launcher deploys itself (mlap promote, mlap rollback) is skipped.
    skipped = evaluated(decided.dagster_run.with_tags({DEPLOYS_ITSELF_TAG: "true"}))
    assert isinstance(skipped, SkipReason)
    request = evaluated(decided.dagster_run)
    assert isinstance(request, RunRequest)
    assert request.run_key == f"redeploy:{decided.run_id}"
    deployed = _run(defs, scene, deploy_job_name(PIPELINE), request)
    return {
        e.asset_key.path[-1]: {
            k: v.value for k, v in e.step_materialization_data.materialization.metadata.items()
        }
        for e in deployed.get_asset_materialization_events()
    }


def _last_decision(scene: Lifecycle, entries_before: int) -> Entry:
    """The one decision-log entry written since `entries_before`, checked against the
    chain and the head anchored in the registry."""
    log = scene.audit.decision_log(PIPELINE)
    entries = read(log)
    assert len(entries) == entries_before + 1
    assert verify(log, expected_head=scene.registry.anchored_head(PIPELINE)).ok
    return entries[-1]


def _validated(scene: Lifecycle, day: str) -> pd.DataFrame:
    return pd.read_parquet(scene.state / "lake" / PIPELINE / "validated_flights" / f"{day}.parquet")


def test_an_ab_experiment_concludes_by_its_job_promotes_records_and_alerts(
    scene: Lifecycle, alerting: Alerting
) -> None:
    config, defs = scene.config, scene.defs(scene.config)
    lake = str(scene.state / "lake")
    champion, challenger = scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)
    assert champion and challenger
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    record = ExperimentRecord(
        pipeline=PIPELINE,
        mode="ab",
        share=0.5,
        entity_key=ENTITY_KEY,
        champion_version=champion,
        champion_tag=f"{PIPELINE}:v{champion}-test",
        challenger_version=challenger,
        challenger_tag=f"{PIPELINE}:v{challenger}-test",
        bento_tag=f"{PIPELINE}:xlive",
        started_at=started,
        started_by="test",
        min_samples=300,
        confidence=0.95,
    )
    write_current(lake, record)
    for seed, day in enumerate(LIVE):
        batches = ab_batches(config, _validated(scene, day), seed, champion, challenger)
        write_log(lake, PIPELINE, log_frame(batches, config))
    # The first day judged by the inference-log sensor's job, the second by the daily job
    # that its landing starts (its ingest steps already ran in the scene).
    keys = [model_key(PIPELINE, name) for name in ("inference_log", "ab_test")]
    for day, job in zip(LIVE, (served_traffic_job_name, daily_job_name), strict=True):
        assert (
            defs.resolve_job_def(job(PIPELINE))
            .execute_in_process(partition_key=day, instance=scene.instance, asset_selection=keys)
            .success
        )
    entries = len(read(scene.audit.decision_log(PIPELINE)))

    request = _tick(defs, scene, experiment_sensor_name(PIPELINE))
    assert request.run_key == f"{experiment_id(record)}:challenger_better"
    concluded = _run(defs, scene, conclude_experiment_job_name(PIPELINE), request)

    # The registry: the challenger is the champion, the old champion its fallback.
    assert (scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)) == (challenger, champion)
    # The decision log: one new promote entry, chained and anchored, that says why.
    entry = _last_decision(scene, entries)
    assert entry.action == "promote" and entry.record["manual"] is False
    assert entry.record["champion_version_before"] == champion
    assert entry.record["champion_version_after"] == challenger
    assert entry.record["requested_by"] == "experiment sensor"
    reason = entry.record["reason"]
    assert f"ab experiment {experiment_id(record)}" in reason
    assert "the challenger is better" in reason
    # The test's numbers, as ab_test gave them to the sensor (`test.<name>`).
    assert entry.record["test.verdict"] == "challenger_better"
    assert entry.record["test.p_value"] < 0.05
    assert (
        min(entry.record["test.samples_champion"], entry.record["test.samples_challenger"]) >= 300
    )
    # MLflow: the promoted version carries the decision and its log entry.
    tags = scene.client.get_model_version(PIPELINE, challenger).tags
    assert tags["decision.action"] == "promote"
    assert tags["decision.log_entry_hash"] == entry.entry_hash
    # The experiment is stopped, with the decision's reason.
    assert read_current(lake, PIPELINE) is None
    # The redeploy sensor's run: the new champion's bento, and its passport holding the
    # decision.
    deployed = _redeployed(defs, scene, concluded)
    assert deployed["champion_bento"]["model_version"] == challenger
    assert deployed["passport"]["passport_id"]
    passport = scene.audit.read_passport(PIPELINE, challenger)
    assert passport["decision"]["action"] == "promote"
    assert passport["decision"]["log_entry_hash"] == entry.entry_hash
    assert "the challenger is better" in passport["decision"]["reason"]
    # The alert: one info alert of the promotion, delivered to the webhook (the scene's
    # first training promoted the same version within the de-duplication window: a
    # decision is an event of its own, never suppressed as a repeat).
    (alert,) = [b for b in alerting.ticked() if "decision" in b["key"]]
    assert alert["key"] == f"{PIPELINE}/decision:promote:{challenger}:{concluded.run_id[:8]}"
    assert alert["severity"] == "info"
    assert "the challenger is better" in alert["details"]["reason"]


def test_slow_answers_roll_the_champion_back_by_the_job_and_keep_the_bad_days_log(
    scene: Lifecycle, alerting: Alerting
) -> None:
    policy = RollbackConfig(enabled=True, max_p99_ms=500, min_requests=100)
    config = scene.config.model_copy(
        update={"serving": scene.config.serving.model_copy(update={"rollback": policy})}
    )
    defs = scene.defs(config)
    lake = str(scene.state / "lake")
    bad, good = scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)
    assert bad and good
    day = LIVE[1]
    rows = _validated(scene, day)[list(serving_columns(config))].head(150).to_dict("records")
    slow = [
        ScoredBatch(
            request_id=f"slow-{i}",
            served_at=datetime.now(UTC),
            route="/predict",
            latency_ms=900.0,
            model_version=bad,
            model_tag=f"{PIPELINE}:v{bad}-test",
            arm="champion",
            rows=1,
            records=[row],
            columns=None,
            outputs=[{"probability": 0.3, "label": False}],
        )
        for i, row in enumerate(rows)
    ]
    write_log(lake, PIPELINE, log_frame(slow, config))
    files = log_days(lake, PIPELINE)
    entries = len(read(scene.audit.decision_log(PIPELINE)))

    request = _tick(defs, scene, rollback_sensor_name(PIPELINE))
    assert request.run_key == f"{bad}:p99_ms"
    result = _run(defs, scene, rollback_job_name(PIPELINE), request)

    assert (scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)) == (good, bad)
    entry = _last_decision(scene, entries)
    assert entry.action == "rollback"
    assert entry.record["champion_version_before"] == bad
    assert entry.record["champion_version_after"] == good
    reason = entry.record["reason"]
    assert reason.startswith(f"rolled back by rollback sensor (v{bad}: p99_ms 900 > 500")
    assert f"champion v{bad} -> v{good}" in reason
    tags = scene.client.get_model_version(PIPELINE, good).tags
    assert tags["decision.action"] == "rollback"
    assert tags["decision.log_entry_hash"] == entry.entry_hash
    # The redeploy sensor's run: the bento of the version rolled back to, and its passport
    # holding the rollback.
    deployed = _redeployed(defs, scene, result)
    assert deployed["champion_bento"]["model_version"] == good
    assert scene.audit.read_passport(PIPELINE, good)["decision"]["action"] == "rollback"
    # The bad period's log: still in place, and a copy kept aside by the run.
    assert log_days(lake, PIPELINE) == files
    (observation,) = [
        e.event_specific_data.asset_observation  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    kept = Path(str(observation.metadata["kept_log"].value))
    assert kept == scene.state / "lake" / PIPELINE / "inference_log_kept" / result.run_id[:8]
    assert sorted(p.name for p in (kept / day).glob("*.parquet")) == files[day]
    # The alert: one warning of the rollback, delivered to the webhook.
    (alert,) = [b for b in alerting.ticked() if "decision" in b["key"]]
    assert alert["key"] == f"{PIPELINE}/decision:rollback:{good}:{result.run_id[:8]}"
    assert alert["severity"] == "warning"
    assert "p99_ms 900 > 500" in alert["details"]["reason"]

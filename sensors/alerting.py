"""Alerting sensors: failed error-severity checks, champion decisions, failed runs.

A failed asset check does not fail its run, so check results are watched directly in
the event log rather than through run status.
"""

import json
from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    EventLogEntry,
    EventLogRecord,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from ml_assets.dagster_private import AssetCheckExecutionRecord, AssetCheckExecutionRecordStatus
from ml_assets.keys import model_key
from resources.alerts import Alert, AlertsResource

BATCH = 500


def build_alert_sensors(pipelines: Sequence[str]) -> list[SensorDefinition]:
    return [_event_alerts(pipelines), _run_failure_alerts()]


def _event_alerts(pipelines: Sequence[str]) -> SensorDefinition:
    champion_keys = [model_key(p, "champion_model") for p in pipelines]

    @sensor(
        name="alert_on_checks_and_decisions",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def alert_on_checks_and_decisions(
        context: SensorEvaluationContext, alerts: AlertsResource
    ) -> SensorResult:
        """Sends an alert for every failed error-severity asset check (the same check failing
        again is de-duplicated and escalated by the alerts resource), and for every champion
        decision: promotions and kept champions as info, rollbacks as warnings. The cursor
        is the last event-log id read."""
        cursor: dict[str, Any] = (
            json.loads(context.cursor) if context.cursor else {"checks": {}, "events": 0}
        )
        instance = context.instance
        check_keys = context.repository_def.asset_graph.asset_check_keys  # type: ignore[union-attr]
        records = []
        for check_key in check_keys:
            seen = cursor["checks"].get(check_key.to_user_string(), 0)
            failed = _failed_checks(instance, check_key, seen)
            if failed:
                cursor["checks"][check_key.to_user_string()] = max(r.id for r in failed)
            records += [r.event for r in failed if r.event is not None]
        after = int(cursor["events"])
        decisions = [r for key in champion_keys for r in _decision_records(instance, key, after)]
        cursor["events"] = max([after, *(r.storage_id for r in decisions)])
        records += [r.event_log_entry for r in sorted(decisions, key=lambda r: r.storage_id)]
        sent = []
        for entry in records:
            alert = _alert_for(entry)
            if alert is not None:
                delivery = alerts.send(alert)
                sent.append(f"{alert.key}: {', '.join(delivery.sent_to) or 'suppressed'}")
        new_cursor = json.dumps(cursor, sort_keys=True)
        if not sent:
            skip = SkipReason("no failed error-severity checks and no decisions")
            return SensorResult(skip_reason=skip, cursor=new_cursor)
        context.log.info("; ".join(sent))
        return SensorResult(cursor=new_cursor)

    return alert_on_checks_and_decisions


def _failed_checks(
    instance: DagsterInstance, check_key: AssetCheckKey, after_id: int
) -> list[AssetCheckExecutionRecord]:
    """Failed executions of one check newer than `after_id`, oldest first."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=BATCH, status={AssetCheckExecutionRecordStatus.FAILED}
    )
    return sorted((r for r in history if r.id > after_id), key=lambda r: r.id)


def _decision_records(instance: DagsterInstance, key: AssetKey, after: int) -> list[EventLogRecord]:
    found = [
        *instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=BATCH, ascending=True
        ).records,
        *instance.fetch_observations(
            AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=BATCH, ascending=True
        ).records,
    ]
    return found


def _alert_for(entry: EventLogEntry) -> Alert | None:
    event = entry.dagster_event
    if event is None:
        return None
    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.event_specific_data
        if evaluation.passed or evaluation.severity != AssetCheckSeverity.ERROR:  # type: ignore[union-attr]
            return None
        asset = evaluation.asset_key  # type: ignore[union-attr]
        check = evaluation.check_name  # type: ignore[union-attr]
        partition = f"[{evaluation.partition}]" if evaluation.partition else ""  # type: ignore[union-attr]
        return Alert(
            key=f"{asset.to_user_string()}:{check}",
            severity="error",
            title=f"check failed: {asset.to_user_string()}{partition} {check}",
            body=evaluation.description or "",  # type: ignore[union-attr]
            pipeline=asset.path[0],
            details={"run_id": entry.run_id, "partition": evaluation.partition},  # type: ignore[union-attr]
        )
    metadata = _metadata(event)
    action = metadata.get("action")
    if action not in ("promote", "keep", "rollback"):
        return None
    pipeline = (event.asset_key or AssetKey("unknown")).path[0]
    # Each decision is an event of its own (the cursor never reads one twice): keyed by
    # its run, so that the same version promoted or rolled back to again within the
    # de-duplication window (an experiment promoting last hour's previous champion) is
    # still announced.
    decided_in = entry.run_id[:8] if entry.run_id else f"{entry.timestamp:.0f}"
    return Alert(
        key=f"{pipeline}/decision:{action}:{metadata.get('champion_version')}:{decided_in}",
        severity="warning" if action == "rollback" else "info",
        title=f"{pipeline}: {action} - champion is v{metadata.get('champion_version')}",
        body=str(metadata.get("reason", "")),
        pipeline=pipeline,
        details={k: v for k, v in metadata.items() if k != "decision"},
    )


def _metadata(event: DagsterEvent) -> dict[str, object]:
    data = event.event_specific_data
    entry = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
    if entry is None:
        return {}
    # Plain values only: Dagster's own entries (column schema, code references) are records
    # that JSON channels cannot carry, and the decision's full record is in the audit log.
    return {
        key: value.value
        for key, value in entry.metadata.items()
        if isinstance(value.value, str | int | float | bool) and not key.startswith("dagster/")
    }


def _run_failure_alerts() -> SensorDefinition:
    @run_failure_sensor(name="alert_on_run_failure", default_status=DefaultSensorStatus.RUNNING)
    def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertsResource) -> None:
        """Sends an error alert for every failed run of this code location, with the job,
        the run id and the failure message."""
        run = context.dagster_run
        message = context.failure_event.message or "run failed"
        alerts.send(
            Alert(
                key=f"run_failed:{run.job_name}",
                severity="error",
                title=f"run failed: {run.job_name} ({run.run_id[:8]})",
                body=message,
                pipeline=run.job_name.split("__", 1)[0],
                details={"run_id": run.run_id, "tags": json.loads(json.dumps(dict(run.tags)))},
            )
        )

    return alert_on_run_failure

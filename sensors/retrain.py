"""The retraining sensor: sustained drift or decay of the champion starts a training run."""

from datetime import date
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from ml_assets.keys import features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.retrain_policy import DayVerdicts, RetrainDecision, decide
from ml_assets.lib.split import latest_complete_day, temporal_split
from ml_assets.lifecycle.lineage import partition_versions
from resources.alerts import Alert, AlertsResource
from resources.model_registry import CHAMPION, ModelRegistryResource

RETRAIN_REASON_TAG = "mlap/retrain_reason"


def retrain_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__retrain_sensor"


def build_retrain_sensor(
    config: PipelineConfig, train_job: UnresolvedAssetJobDefinition
) -> SensorDefinition:
    monitoring, training = config.monitoring, config.training
    assert monitoring is not None and training is not None
    policy = monitoring.retrain

    @sensor(
        name=retrain_sensor_name(config.name),
        job=train_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def retrain_sensor(
        context: SensorEvaluationContext,
        model_registry: ModelRegistryResource,
        alerts: AlertsResource,
    ) -> SensorResult:
        """Starts the training job when drift or decay is sustained: at least N of the last
        M days judged against the current champion are error-severity results (N, M and
        which triggers count come from `monitoring.retrain`). It waits out a cooldown in
        days of data after the last training, skips when the data a training would read is
        unchanged since the last one, and keys runs by champion and as-of day so one
        decision never starts two runs. A decision to retrain is also sent as an alert."""
        instance = context.instance
        champion = model_registry.by_alias(config.name, CHAMPION)
        if champion is None:
            return SensorResult(skip_reason=SkipReason(f"{config.name} has no champion yet"))
        champion_version = str(champion.version)
        verdicts = recent_verdicts(instance, config.name, days=policy.window_days * 3)
        last_as_of, last_versions = last_training(instance, config.name)
        available = instance.get_materialized_partitions(features_key(config.name))
        as_of = latest_complete_day(available) if available else None
        unchanged = as_of is None or (
            as_of == last_as_of
            and last_versions
            == partition_versions(
                instance,
                features_key(config.name),
                temporal_split(
                    as_of, training.train_days, training.validation_days, training.test_days
                ).all_days(),
            )
        )
        decision = decide(verdicts, champion_version, policy, last_as_of, unchanged)
        context.log.info(f"{config.name}: {decision.summary}")
        if not decision.retrain:
            return SensorResult(skip_reason=SkipReason(decision.summary))
        alerts.send(_alert(config.name, champion_version, decision))
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=f"retrain:{config.name}:v{champion_version}:{as_of}",
                    tags={RETRAIN_REASON_TAG: decision.summary[:4000]},
                )
            ]
        )

    return retrain_sensor


def recent_verdicts(instance: DagsterInstance, pipeline: str, days: int) -> list[DayVerdicts]:
    """Drift and decay verdicts of the latest `days` monitored days, with the judged version."""
    drift = _latest_metadata(instance, model_key(pipeline, "drift_report"), days)
    decay = _latest_metadata(instance, model_key(pipeline, "live_performance"), days)
    verdicts = []
    for day in sorted(set(drift) | set(decay))[-days:]:
        seen = drift.get(day) or decay.get(day) or {}
        verdicts.append(
            DayVerdicts(
                day=day,
                model_version=str(seen.get("model_version", "")),
                drift=drift.get(day, {}).get("verdict"),
                decay=decay.get(day, {}).get("verdict"),
            )
        )
    return verdicts


def last_training(instance: DagsterInstance, pipeline: str) -> tuple[date | None, dict]:
    """As-of day and feature data versions of the latest training set."""
    event = instance.get_latest_materialization_event(model_key(pipeline, "training_set"))
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return None, {}
    windows: Any = materialization.metadata["windows"].value
    versions: Any = materialization.metadata["feature_data_versions"].value
    test_end = str(windows["test"]).split("..")[-1]
    return date.fromisoformat(test_end), dict(versions)


def _latest_metadata(
    instance: DagsterInstance, key: AssetKey, days: int
) -> dict[str, dict[str, str]]:
    partitions = sorted(instance.get_materialized_partitions(key))[-days:]
    if not partitions:
        return {}
    found: dict[str, dict[str, str]] = {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=days * 4
    ).records
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or materialization.partition in found:
            continue
        found[str(materialization.partition)] = {
            name: str(value.value) for name, value in materialization.metadata.items()
        }
    return found


def _alert(pipeline: str, version: str, decision: RetrainDecision) -> Alert:
    return Alert(
        key=f"{pipeline}/retrain",
        severity="warning",
        title=f"{pipeline}: retraining started (champion v{version} drifting or decaying)",
        body=decision.summary,
        pipeline=pipeline,
        details={"champion_version": version, "evidence": decision.evidence},
    )

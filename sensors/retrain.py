"""The retraining sensor: sustained drift or decay of the champion starts a training run."""

import json
from dataclasses import dataclass
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

from ml_assets.dagster_private import UnresolvedAssetJobDefinition
from ml_assets.keys import features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.lifecycle import TrainingConfig
from ml_assets.lib.retrain_policy import DayVerdicts, RetrainDecision, decide
from ml_assets.lib.split import latest_complete_day, training_split
from ml_assets.lifecycle.lineage import partition_versions
from resources.alerts import Alert, AlertsResource
from resources.model_registry import CHAMPION, ModelRegistryResource

RETRAIN_REASON_TAG = "mlap/retrain_reason"
# Run keys of the latest decisions already alerted on, kept in the cursor. A key only comes
# back while its champion and as-of day are current, so a few recent ones are enough.
ALERTED_KEYS_KEPT = 20


@dataclass(frozen=True)
class RetrainSignals:
    """The assets whose daily verdicts (metadata `verdict`, `model_version`) the sensor
    weighs, and the one recording what the last training read (`feature_data_versions`)."""

    drift: str = "drift_report"
    performance: str = "live_performance"
    training: str = "training_set"


TABULAR_SIGNALS = RetrainSignals()
TEXT_SIGNALS = RetrainSignals("text_drift", "text_live_performance", "example_store")


def retrain_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__retrain_sensor"


def build_retrain_sensor(
    config: PipelineConfig,
    train_job: UnresolvedAssetJobDefinition,
    signals: RetrainSignals = TABULAR_SIGNALS,
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
        decision never starts two runs.

        A decision to retrain is sent as one alert per run key. The daemon evaluates the
        sensor every minute and, until the evidence changes, requests the same run key again
        (it starts nothing); the alerts resource would count each of those as a repeat and
        escalate. So the cursor holds the run keys already alerted on: Dagster stores it
        with the tick that made the request, it needs no query, and it behaves the same
        whether the run has been created yet, was refused as a duplicate, or the sensor is
        only being previewed. Asking the instance for a run with the key instead would tie
        the alert to run creation (and to run retention). If a tick fails after alerting,
        its cursor is not stored and the next tick alerts again: a repeat, never a loss."""
        instance = context.instance
        alerted = _alerted_keys(context.cursor)
        cursor = context.cursor
        champion = model_registry.by_alias(config.name, CHAMPION)
        if champion is None:
            skip = SkipReason(f"{config.name} has no champion yet")
            return SensorResult(skip_reason=skip, cursor=cursor)
        champion_version = str(champion.version)
        verdicts = recent_verdicts(instance, config.name, policy.window_days * 3, signals)
        last_as_of, last_versions = last_training(instance, config.name, signals.training)
        as_of = _latest_as_of(instance, config.name)
        unchanged = _data_unchanged(
            instance, config.name, training, as_of, last_as_of, last_versions
        )
        decision = decide(verdicts, champion_version, policy, last_as_of, unchanged)
        context.log.info(f"{config.name}: {decision.summary}")
        if not decision.retrain:
            return SensorResult(skip_reason=SkipReason(decision.summary), cursor=cursor)
        run_key = f"retrain:{config.name}:v{champion_version}:{as_of}"
        if run_key not in alerted:
            alerts.send(_alert(config.name, champion_version, decision))
            cursor = json.dumps({"alerted": [*alerted, run_key][-ALERTED_KEYS_KEPT:]})
        request = RunRequest(run_key=run_key, tags={RETRAIN_REASON_TAG: decision.summary[:4000]})
        return SensorResult(run_requests=[request], cursor=cursor)

    return retrain_sensor


def recent_verdicts(
    instance: DagsterInstance,
    pipeline: str,
    days: int,
    signals: RetrainSignals = TABULAR_SIGNALS,
) -> list[DayVerdicts]:
    """Drift and decay verdicts of the latest `days` monitored days, with the judged version."""
    drift = _latest_metadata(instance, model_key(pipeline, signals.drift), days)
    decay = _latest_metadata(instance, model_key(pipeline, signals.performance), days)
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


def last_training(
    instance: DagsterInstance, pipeline: str, asset: str = "training_set"
) -> tuple[date | None, dict]:
    """As-of day and feature data versions of the latest training set (a text pipeline:
    example store): the test window's end, else the last day read."""
    event = instance.get_latest_materialization_event(model_key(pipeline, asset))
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return None, {}
    versions: Any = materialization.metadata["feature_data_versions"].value
    if "windows" in materialization.metadata:
        windows: Any = materialization.metadata["windows"].value
        test_end = str(windows["test"]).split("..")[-1]
    elif versions:
        test_end = max(versions)
    else:
        return None, {}
    return date.fromisoformat(test_end), dict(versions)


def _latest_as_of(instance: DagsterInstance, pipeline: str) -> date | None:
    """The as-of day a training started now would use (None before any features)."""
    available = instance.get_materialized_partitions(features_key(pipeline))
    return latest_complete_day(available) if available else None


def _data_unchanged(
    instance: DagsterInstance,
    pipeline: str,
    training: TrainingConfig,
    as_of: date | None,
    last_as_of: date | None,
    last_versions: dict,
) -> bool:
    """Whether a training as of `as_of` would read what the last one read: the same as-of
    day and the same data version of every feature partition (True with no features)."""
    if as_of is None:
        return True
    if as_of != last_as_of:
        return False
    key = features_key(pipeline)
    available = instance.get_materialized_partitions(key)
    try:
        split = training_split(
            as_of, training.train_days, training.validation_days, training.test_days, available
        )
    except ValueError:
        return False  # no training can read this: not "the same data" either
    return last_versions == partition_versions(instance, key, split.all_days())


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


def _alerted_keys(cursor: str | None) -> list[str]:
    return list(json.loads(cursor)["alerted"]) if cursor else []


def _alert(pipeline: str, version: str, decision: RetrainDecision) -> Alert:
    return Alert(
        key=f"{pipeline}/retrain",
        severity="warning",
        title=f"{pipeline}: retraining started (champion v{version} drifting or decaying)",
        body=decision.summary,
        pipeline=pipeline,
        details={"champion_version": version, "evidence": decision.evidence},
    )

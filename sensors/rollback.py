"""The rollback sensor: the served champion's own evidence crossed a `serving.rollback`
limit, so `<pipeline>__rollback` moves the champion back to the previous one."""

from collections.abc import Callable
from typing import Any

import pandas as pd
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ml_assets.keys import model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.experiment import CHAMPION_ARM
from ml_assets.lib.rollback_triggers import DayDrift, fired, served_version
from resources.lake import LakeResource


def rollback_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__rollback_sensor"


def build_rollback_sensor(config: PipelineConfig, job: JobDefinition) -> SensorDefinition:
    policy = config.serving.rollback
    pipeline = config.name
    interval = config.monitoring.arrival_interval_seconds if config.monitoring else 30

    @sensor(
        name=rollback_sensor_name(pipeline),
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def rollback_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult:
        """Judges the champion the service answers with (the latest `champion` arm in the
        inference log and its failed requests) over the log's latest
        `serving.rollback.window_days` days: its p99 request latency, the share of its
        requests that failed (5xx), its live metric drop on labelled served traffic
        (`served_performance`) and its drifted share (the champion arm's in `served_drift`,
        else the day's `drift_report`). When a
        configured limit is crossed, starts `<pipeline>__rollback` with the trigger and its
        figures (they go into the decision's reason, the decision log and the alert) and
        the days judged, whose inference log the run keeps aside. Run key: the version
        and the triggers; cursor: the last version rolled back, judged once."""
        logged = lake.inference_log_days(pipeline)
        days = sorted(set(logged) | set(lake.inference_error_days(pipeline)))
        days = days[-policy.window_days :]
        if not days:
            return SensorResult(skip_reason=SkipReason("no inference log yet"))
        log = pd.concat([lake.read_inference_log(pipeline, d)[0] for d in days])
        errors = lake.read_inference_errors(pipeline, days)
        version = served_version(log, errors)
        if version is None:
            return SensorResult(skip_reason=SkipReason(f"no champion traffic on {days}"))
        if context.cursor == version:
            return SensorResult(skip_reason=SkipReason(f"v{version} already rolled back"))
        performance = _tables(lake, [pipeline, "served_performance"], days)
        shares = _drift_shares(context.instance, pipeline, days, version)
        triggers = fired(policy, version, log, performance, shares, days, errors)
        if not triggers:
            reason = f"v{version} within every rollback limit over {days[0]}..{days[-1]}"
            return SensorResult(skip_reason=SkipReason(reason))
        said = "; ".join(t.describe() for t in triggers)
        context.log.warning(f"{pipeline}: rolling back v{version}: {said}")
        request = RunRequest(
            run_key=f"{version}:{'+'.join(t.name for t in triggers)}",
            run_config={
                "ops": {
                    f"{pipeline}__rollback_champion": {
                        "config": {"trigger": f"v{version}: {said}", "keep_log_days": days}
                    }
                }
            },
            tags={"user": "rollback sensor"},
        )
        return SensorResult(run_requests=[request], cursor=version)

    return rollback_sensor


def _tables(lake: LakeResource, path: list[str], days: list[str]) -> pd.DataFrame | None:
    found = []
    for day in days:
        try:
            found.append(lake.read(path, day))
        except FileNotFoundError:
            continue
    return pd.concat(found, ignore_index=True) if found else None


def _drift_shares(
    instance: DagsterInstance, pipeline: str, days: list[str], version: str
) -> dict[str, DayDrift]:
    """Day -> the drifted share judged against `version`: the champion arm's in the day's
    latest `served_drift` that judged it (the traffic the service answered), else the
    day's latest `drift_report` of `version` (the platform's batch scoring)."""

    def served(metadata: dict[str, Any]) -> float | None:
        judged = metadata.get("judged") or []
        return next(
            (
                float(j["drifted_share"])
                for j in judged
                if str(j.get("model_version")) == version and j.get("arm") == CHAMPION_ARM
            ),
            None,
        )

    def batch(metadata: dict[str, Any]) -> float | None:
        if str(metadata.get("model_version")) == version and "drifted_share" in metadata:
            return float(metadata["drifted_share"])
        return None

    shares: dict[str, DayDrift] = {}
    for asset, share_of in (("served_drift", served), ("drift_report", batch)):
        for day, share in _newest(instance, model_key(pipeline, asset), days, share_of).items():
            shares.setdefault(day, DayDrift(share, asset))
    return shares


def _newest(
    instance: DagsterInstance,
    key: AssetKey,
    days: list[str],
    share_of: Callable[[dict[str, Any]], float | None],
) -> dict[str, float]:
    """Day -> the share of the day's newest materialisation of `key` that has one."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=days),
        limit=len(days) * 10,
    ).records
    found: dict[str, float] = {}
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or materialization.partition in found:
            continue
        share = share_of({k: v.value for k, v in materialization.metadata.items()})
        if share is not None:
            found[str(materialization.partition)] = share
    return found

"""The inference-log sensor: days whose log files changed become runs of the day's
served-traffic assets."""

import hashlib
import json
from datetime import UTC, datetime

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ml_assets.dagster_private import UnresolvedAssetJobDefinition
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.inference_log import settled
from resources.lake import LakeResource

LOG_FILES_TAG = "mlap/inference_log_files"
LOG_FINGERPRINT_TAG = "mlap/inference_log_fingerprint"


def inference_log_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__inference_log_sensor"


def fingerprint(names: list[str]) -> str:
    """Of a day's set of log files: names are unique and files never change once written,
    so the set of names says whether anything new arrived."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def build_inference_log_sensor(
    config: PipelineConfig, job: UnresolvedAssetJobDefinition
) -> SensorDefinition:
    partitions = job.partitions_def
    assert partitions is not None
    settle = config.serving.inference_log.settle_seconds
    interval = config.monitoring.arrival_interval_seconds if config.monitoring else 30

    @sensor(
        name=inference_log_sensor_name(config.name),
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def inference_log_sensor(context: SensorEvaluationContext, lake: LakeResource) -> SensorResult:
        """Watches the service's inference log in the lake. A day whose set of log files
        changed since the last run for it starts one run of the inference-log job for
        that day (the day's `inference_log`, and `served_performance` where built), once
        no new file for the day has been written for `serving.inference_log.settle_seconds`
        (a day still being served waits). Run keys are the day plus a hash of its file
        names, so the same files never start a second run; the cursor holds that hash
        for every day ingested."""
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        days = lake.inference_log_days(config.name)
        valid = set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        now = datetime.now(UTC)
        cursor = dict(seen)
        requests, ignored, waiting = [], [], []
        for day, names in days.items():
            current = fingerprint(names)
            if seen.get(day) == current:
                continue
            if day not in valid:  # warned about once per set of files
                ignored.append(day)
                cursor[day] = current
                continue
            if not settled(names, now, settle):
                waiting.append(day)
                continue
            cursor[day] = current
            requests.append(
                RunRequest(
                    run_key=f"{day}:{current}",
                    partition_key=day,
                    tags={LOG_FILES_TAG: str(len(names)), LOG_FINGERPRINT_TAG: current},
                )
            )
        if ignored:
            context.log.warning(f"log days outside the partitions, ignored: {', '.join(ignored)}")
        encoded = json.dumps(cursor, sort_keys=True)
        if not requests:
            reason = "no new inference log files"
            if waiting:
                reason += f"; still being written: {', '.join(waiting)}"
            return SensorResult(skip_reason=SkipReason(reason), cursor=encoded)
        return SensorResult(run_requests=requests, cursor=encoded)

    return inference_log_sensor

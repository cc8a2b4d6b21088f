"""The batch sensor: each new (or changed) file in a static table's `table.batches` folder
becomes a partition of the scoring batches and one run that scores it."""

import json
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ml_assets.dagster_private import UnresolvedAssetJobDefinition
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.landing import BATCH_FILE, arrivals, scan
from resources.sources import SourcesResource
from sensors.arrival import LANDING_FILE_TAG, LANDING_SHA_TAG

# How often the folder is looked at when the pipeline has no `monitoring:` to say it.
DEFAULT_INTERVAL_SECONDS = 30


def batch_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__batch_sensor"


def build_batch_sensor(
    config: PipelineConfig,
    score_job: UnresolvedAssetJobDefinition,
    partitions: DynamicPartitionsDefinition,
) -> SensorDefinition:
    assert config.table is not None and config.table.batches is not None
    assert partitions.name is not None
    batches, partitions_name = config.table.batches, partitions.name
    interval = (
        config.monitoring.arrival_interval_seconds
        if config.monitoring is not None
        else DEFAULT_INTERVAL_SECONDS
    )

    @sensor(
        name=batch_sensor_name(config.name),
        job=score_job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def batch_sensor(context: SensorEvaluationContext, sources: SourcesResource) -> SensorResult:
        """Watches the table's batch folder. Each new file `<batch>.<format>`, and each file
        whose content changed, adds the partition `<batch>` (if new) and starts one run
        scoring it (validation, features, the champion's predictions, drift and
        performance). Run keys are the file name plus its content hash, so a re-delivered
        identical file starts nothing; the cursor holds the hash of every file seen."""
        folder = sources.landing_folder(batches)
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current = scan(Path(folder), batches.format, BATCH_FILE)
        found = arrivals(current, seen)
        cursor = json.dumps(current, sort_keys=True)
        if not found:
            return SensorResult(skip_reason=SkipReason(f"nothing new in {folder}"), cursor=cursor)
        known = set(context.instance.get_dynamic_partitions(partitions_name))
        added = sorted({a.partition for a in found} - known)
        requests = [
            RunRequest(
                run_key=arrival.run_key,
                partition_key=arrival.partition,
                tags={LANDING_FILE_TAG: arrival.file, LANDING_SHA_TAG: arrival.sha256},
            )
            for arrival in found
        ]
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[partitions.build_add_request(added)] if added else [],
            cursor=cursor,
        )

    return batch_sensor

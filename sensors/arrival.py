"""The arrival sensor: new or changed daily files in a landing zone become partition runs."""

import json
from pathlib import Path

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
from ml_assets.lib.landing import arrivals, scan
from resources.sources import SourcesResource

LANDING_FILE_TAG = "mlap/landing_file"
LANDING_SHA_TAG = "mlap/landing_sha256"


def arrival_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__arrival_sensor"


def build_arrival_sensor(
    config: PipelineConfig, daily_job: UnresolvedAssetJobDefinition
) -> SensorDefinition:
    landing = config.landing_folder
    assert landing is not None
    assert config.monitoring is not None
    partitions = daily_job.partitions_def
    assert partitions is not None

    @sensor(
        name=arrival_sensor_name(config.name),
        job=daily_job,
        minimum_interval_seconds=config.monitoring.arrival_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def arrival_sensor(context: SensorEvaluationContext, sources: SourcesResource) -> SensorResult:
        """Watches the pipeline's landing zone. Each new file `<YYYY-MM-DD>.<format>`, and
        each file whose content changed, starts one run of the daily job for that day
        (validation, features, predictions, monitoring). Run keys are the file name plus
        its content hash, so a re-delivered identical file starts nothing; the cursor
        holds the hash of every file seen."""
        folder = sources.landing_folder(landing)
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current = scan(Path(folder), landing.format)
        valid = set(partitions.get_partition_keys(dynamic_partitions_store=context.instance))
        requests, ignored = [], []
        for arrival in arrivals(current, seen):
            if arrival.partition not in valid:
                ignored.append(arrival.file)
                continue
            requests.append(
                RunRequest(
                    run_key=arrival.run_key,
                    partition_key=arrival.partition,
                    tags={LANDING_FILE_TAG: arrival.file, LANDING_SHA_TAG: arrival.sha256},
                )
            )
        if ignored:
            context.log.warning(f"files outside the partitions, ignored: {', '.join(ignored)}")
        cursor = json.dumps(current, sort_keys=True)
        if not requests:
            reason = f"nothing new in {folder}" + (f" ({len(ignored)} ignored)" if ignored else "")
            return SensorResult(skip_reason=SkipReason(reason), cursor=cursor)
        return SensorResult(run_requests=requests, cursor=cursor)

    return arrival_sensor

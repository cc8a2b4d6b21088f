"""Scoring batches of a static table: new rows that arrive as files in `table.batches`.

Each file is one dynamic partition, named after the file. A batch goes the way a day of
an event pipeline goes: raw rows as received, validated (bad rows quarantined with the
reason), featurised with the same joins, scored by the champion, and, with
`monitoring:`, judged for drift against the champion's reference profile and for
performance where the batch carries labels.
"""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DataVersion,
    DynamicPartitionsDefinition,
    Output,
    asset,
)

from ml_assets.assets.datasets import validation_asset
from ml_assets.assets.deployment import batch_predictions_asset
from ml_assets.assets.features import build_features_asset
from ml_assets.assets.monitoring import build_monitoring_assets
from ml_assets.keys import (
    DATASETS_GROUP,
    batch_features_key,
    batch_source_name,
    batches_partitions_name,
    code_version,
    raw_key,
)
from ml_assets.lib.config import PipelineConfig, SourceConfig
from ml_assets.lib.config.shapes import ScoringBatches
from ml_assets.lib.hashing import frame_hash
from resources.sources import SourcesResource

BATCH = "batch"  # the column naming the batch in the batch assets' rows and tables


def batch_partitions(config: PipelineConfig) -> DynamicPartitionsDefinition:
    return DynamicPartitionsDefinition(name=batches_partitions_name(config.name))


def scoring_batches(config: PipelineConfig) -> ScoringBatches | None:
    """Where a static table's new rows arrive; None for daily pipelines and tables scored
    through the service only."""
    return config.table.batches if config.table is not None else None


def batch_source(config: PipelineConfig) -> SourceConfig:
    """The table's source as a batch brings it: the label's column and the columns known
    only after the event may be missing (the batch is scored before they are known)."""
    source = config.event_source
    later = {config.target.column, *config.features.forbidden_columns}
    columns = {
        name: spec.model_copy(update={"nullable": True}) if name in later else spec
        for name, spec in source.columns.items()
    }
    return source.model_copy(update={"columns": columns})


def build_batch_assets(
    config: PipelineConfig, partitions: DynamicPartitionsDefinition
) -> list[AssetsDefinition]:
    """Raw, validated and quarantined rows, features and the champion's predictions of
    each batch; drift and live performance too when the pipeline is monitored."""
    name = batch_source_name(config.event_source_name)
    features = batch_features_key(config.name)
    assets = [
        _raw_batch(config, name, partitions),
        validation_asset(config, name, batch_source(config), partitions, BATCH),
        build_features_asset(config, partitions, events=name, key=features),
        batch_predictions_asset(config, partitions, features=features),
    ]
    if config.monitoring is not None:
        assets += build_monitoring_assets(config, partitions, features, partition_column=BATCH)
    return assets


def _raw_batch(
    config: PipelineConfig, name: str, partitions: DynamicPartitionsDefinition
) -> AssetsDefinition:
    batches = scoring_batches(config)
    assert batches is not None
    source = batch_source(config)
    later = [c for c, spec in source.columns.items() if spec.nullable]

    @asset(
        key=raw_key(config.name, name),
        group_name=DATASETS_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"pandas", "parquet"},
        owners=list(config.owners),
        code_version=code_version(
            _raw_batch, batches.model_dump(mode="json"), uses=("resources.sources",)
        ),
        metadata={"landing_folder": batches.path, "format": batches.format},
    )
    def raw_batch(context: AssetExecutionContext, sources: SourcesResource) -> Output[pd.DataFrame]:
        """The rows of one scoring batch as received: the landed file `<batch>.<format>`,
        in the table's declared columns (a header row for CSV). Columns the batch may lack
        (the label, columns known only after the event) are added empty; `batch` names
        the batch."""
        frames = []
        for batch in context.partition_keys:
            frame = sources.read_batch(batches, batch)
            for column in later:
                if column not in frame.columns:
                    frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            frames.append(
                frame.assign(**{BATCH: pd.Series(batch, index=frame.index, dtype="string")})
            )
            context.log.info(f"batch {batch}: {len(frame)} rows")
        frame = pd.concat(frames, ignore_index=True)
        return Output(frame, data_version=DataVersion(frame_hash(frame)))

    return raw_batch

"""Dataset assets of a pipeline: raw sources, validated data and quarantine, with checks."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    BackfillPolicy,
    DataVersion,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
    multi_asset,
)

from ml_assets.assets.validation_checks import validation_check_specs, validation_checks
from ml_assets.keys import DATASETS_GROUP, code_version, quarantine_key, raw_key, validated_key
from ml_assets.lib.config import PipelineConfig, SourceConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.schema import to_pandera_schema
from ml_assets.lib.validation import REASON_COLUMN, ValidationOutcome, validate_frame
from resources.sources import SourcesResource

if TYPE_CHECKING:
    import pandera.pandas as pa


def build_dataset_assets(
    config: PipelineConfig, partitions: PartitionsDefinition | None
) -> list[AssetsDefinition]:
    """Raw and validated assets of every source; only the event source of a partitioned
    pipeline is partitioned (`partitions` is None for a static table)."""
    assets: list[AssetsDefinition] = []
    for name, source in config.sources.items():
        is_event = name == config.event_source_name
        part = partitions if is_event else None
        assets.append(_raw_asset(config, name, source, part))
        assets.append(validation_asset(config, name, source, part, EVENT_DATE if part else None))
    return assets


def _raw_asset(
    config: PipelineConfig, name: str, source: SourceConfig, partitions: PartitionsDefinition | None
) -> AssetsDefinition:
    connector = source.connector.kind
    if partitions is not None:
        what = "partitioned by event day"
    else:
        what = "the whole table" if name == config.event_source_name else "reference table"
    description = (
        f"Raw `{name}` rows as received from the `{connector}` connector ({what}), "
        f"values kept as read so that bad ones can be quarantined with a reason. "
        f"{source.description or ''}"
    ).strip()

    @asset(
        key=raw_key(config.name, name),
        description=description,
        group_name=DATASETS_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run() if partitions else None,
        kinds={"pandas", "parquet"},
        owners=list(config.owners),
        code_version=code_version(
            _raw_asset, source.connector.model_dump(mode="json"), uses=("resources.sources",)
        ),
        metadata={"connector": connector},
    )
    def raw(context: AssetExecutionContext, sources: SourcesResource) -> Output[pd.DataFrame]:
        if partitions is None:
            frame = sources.read_reference(source)
        else:
            frame = sources.read_events(source, config.daily, list(context.partition_keys))
        context.log.info(f"read {len(frame)} {name} rows")
        return Output(frame, data_version=DataVersion(frame_hash(frame)))

    return raw


def validation_asset(
    config: PipelineConfig,
    name: str,
    source: SourceConfig,
    partitions: PartitionsDefinition | None,
    partition_column: str | None,
) -> AssetsDefinition:
    """The validated and quarantined assets of the raw asset `name`, with their checks.
    Partitioned rows name their partition in `partition_column` (added by the platform,
    not declared: it passes validation untouched), so that the checks judge each one."""
    valid_key = validated_key(config.name, name)
    carried = [partition_column] if partition_column else []
    schema = to_pandera_schema(source.columns, source.primary_key, f"validated_{name}", carried)
    quality = config.quality
    version = code_version(
        validation_asset,
        source.model_dump(mode="json"),
        quality.model_dump(),
        uses=(
            "ml_assets.assets.datasets",
            "ml_assets.assets.validation_checks",
            "ml_assets.lib.validation",
            "ml_assets.lib.schema",
        ),
    )

    @multi_asset(
        name=f"{config.name}__validate_{name}",
        ins={"raw": AssetIn(raw_key(config.name, name))},
        outs=_validation_outs(config, name, schema, version),
        check_specs=validation_check_specs(valid_key, quality.max_quarantine_rate),
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run() if partitions else None,
    )
    def validate(context: AssetExecutionContext, raw: pd.DataFrame) -> Iterator[object]:
        outcome = validate_frame(
            raw, source.columns, source.primary_key, name=name, carry_columns=carried
        )
        context.log.info(
            f"{name}: {len(outcome.valid)} valid, {len(outcome.quarantined)} quarantined "
            f"of {len(raw)}; reasons: {outcome.reason_counts}"
        )
        days = list(context.partition_keys) if partition_column else [None]
        yield from _validation_outputs(raw, outcome)
        yield from validation_checks(
            outcome,
            (days, partition_column),
            quality.min_rows_per_partition,
            quality.max_quarantine_rate,
            valid_key,
        )

    return validate


def _validation_outs(
    config: PipelineConfig, name: str, schema: "pa.DataFrameSchema", version: str
) -> dict[str, AssetOut]:
    """The validated output (typed by the pandera `schema`) and the quarantine output."""
    from dagster_pandera import pandera_schema_to_dagster_type

    return {
        "validated": AssetOut(
            key=validated_key(config.name, name),
            description=(
                f"`{name}` rows that pass the declared schema (types, ranges, categories, "
                "nullability, unique key), typed as declared. Guarded by blocking checks."
            ),
            dagster_type=pandera_schema_to_dagster_type(schema),
            group_name=DATASETS_GROUP,
            kinds={"pandas", "pandera", "parquet"},
            owners=list(config.owners),
            code_version=version,
        ),
        "quarantined": AssetOut(
            key=quarantine_key(config.name, name),
            description=(
                f"`{name}` rows refused by validation, as received (text), each with the "
                f"reason in `{REASON_COLUMN}`. Raw rows = validated + quarantined."
            ),
            group_name=DATASETS_GROUP,
            kinds={"pandas", "parquet"},
            owners=list(config.owners),
            code_version=version,
        ),
    }


def _validation_outputs(raw: pd.DataFrame, outcome: ValidationOutcome) -> Iterator[Output[Any]]:
    """The validated and quarantined outputs, each with its data version and metadata."""
    summary: dict[str, Any] = {
        "raw_rows": len(raw),
        "quarantined_rows": len(outcome.quarantined),
        "quarantine_rate": round(outcome.quarantine_rate, 6),
        "quarantine_reasons": MetadataValue.json(outcome.reason_counts),
    }
    yield Output(
        outcome.valid,
        output_name="validated",
        data_version=DataVersion(frame_hash(outcome.valid)),
        metadata=summary,
    )
    yield Output(
        outcome.quarantined,
        output_name="quarantined",
        data_version=DataVersion(frame_hash(outcome.quarantined)),
        metadata={"quarantined_rows": len(outcome.quarantined)},
    )

"""The features asset of a pipeline: events joined with reference data, derived features, label."""

from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    DataVersion,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.keys import FEATURES_GROUP, code_version, features_key, validated_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import build_features, feature_kinds
from ml_assets.lib.hashing import frame_hash


def build_features_asset(
    config: PipelineConfig,
    partitions: PartitionsDefinition | None,
    events: str | None = None,
    key: AssetKey | None = None,
) -> AssetsDefinition:
    """The features of the validated event source (or of the validated source `events`,
    e.g. a static table's scoring batches) under `key` (the pipeline's features key)."""
    event_source = events or config.event_source_name
    joined_sources = sorted({join.source for join in config.joins})
    ins = {"events": AssetIn(validated_key(config.name, event_source))}
    ins |= {f"ref_{name}": AssetIn(validated_key(config.name, name)) for name in joined_sources}
    kinds = feature_kinds(config, with_history=False)
    if partitions is None:
        rows = f"`{event_source}` row"
    else:
        rows = (
            f"`{event_source}` row of the batch" if events else f"`{event_source}` event of the day"
        )
    description = (
        f"One row per {rows}: the validated events left-joined with "
        f"{', '.join(joined_sources) or 'no reference data'}, the {len(kinds)} declared features "
        f"and the label `{config.target.name}` ({config.target.definition}; null while "
        "unknown). Columns known only after the event "
        f"({', '.join(config.features.forbidden_columns) or 'none declared'}) never enter."
    )

    @asset(
        key=key or features_key(config.name),
        ins=ins,
        description=description,
        group_name=FEATURES_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run() if partitions else None,
        kinds={"pandas", "parquet"},
        owners=list(config.owners),
        code_version=code_version(
            build_features_asset,
            [j.model_dump() for j in config.joins],
            config.features.model_dump(mode="json"),
            config.target.model_dump(mode="json"),
            uses=("ml_assets.lib.features",),
        ),
        metadata={"feature_kinds": MetadataValue.json(kinds)},
    )
    def features(
        context: AssetExecutionContext, events: pd.DataFrame, **refs: pd.DataFrame
    ) -> Output[pd.DataFrame]:
        references = {name.removeprefix("ref_"): frame for name, frame in refs.items()}
        frame = build_features(events, references, config)
        label = frame[config.target.name]
        labelled = int(label.notna().sum())
        context.log.info(f"{len(frame)} feature rows, {labelled} labelled")
        return Output(
            frame,
            data_version=DataVersion(frame_hash(frame)),
            metadata={
                "labelled_rows": labelled,
                **label_profile(label, config.target.problem_type),
                "feature_count": len(kinds),
            },
        )

    return features


def label_profile(label: pd.Series, problem_type: str) -> dict[str, Any]:
    """What the known labels of a partition look like: the positive rate (binary), the
    class shares (multiclass, text), the mean (regression)."""
    known = label.dropna()
    if problem_type in ("multiclass_classification", "text_classification"):
        shares = known.astype("string").value_counts(normalize=True)
        return {
            "class_shares": MetadataValue.json(
                {str(k): round(float(v), 4) for k, v in shares.items()}
            )
        }
    name = "target_mean" if problem_type == "regression" else "positive_rate"
    return {name: round(float(known.astype(float).mean()), 4) if len(known) else 0.0}

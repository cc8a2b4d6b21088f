"""Text classification's data half: the example store (with its quarantine) and the
embeddings of its examples."""

from collections.abc import Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from ml_assets.keys import MODELS_GROUP, WINDOW, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import TextClassificationTarget, TextConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.split import latest_complete_day, missing_days, training_split
from ml_assets.lib.static_split import window_of_rows
from ml_assets.lifecycle.lineage import partition_versions, table_version
from resources.lake import LakeResource

EMBEDDING_PREFIX = "e"


def text_settings(config: PipelineConfig) -> tuple[TextClassificationTarget, TextConfig]:
    """The text target and the text settings (defaults when `text:` is omitted)."""
    target = config.target
    if not isinstance(target, TextClassificationTarget):
        raise TypeError(f"pipeline {config.name!r} is not a text_classification pipeline")
    return target, config.text or TextConfig()


def build_text_example_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_example_store(config), _embeddings(config)]


def _example_store(config: PipelineConfig) -> AssetsDefinition:
    target, text = text_settings(config)
    training = config.training
    assert training is not None
    version = code_version(
        _example_store,
        target.model_dump(mode="json"),
        text.model_dump(mode="json"),
        training.model_dump(mode="json", include={"as_of", "train_days", "validation_days"}),
        training.model_dump(mode="json", include={"test_days", "seed"}),
        uses=("ml_assets.lib.text.examples", "ml_assets.lib.split"),
    )

    @multi_asset(
        name=f"{config.name}__example_store",
        deps=[features_key(config.name)],
        outs={
            "examples": AssetOut(
                key=model_key(config.name, "example_store"),
                description=(
                    f"Labelled texts of `{target.text_column}` the text classifiers learn "
                    "from and cite, each with its id, class, metadata and training window; "
                    "versioned by content hash."
                ),
                group_name=MODELS_GROUP,
                kinds={"pandas", "parquet"},
                owners=list(config.owners),
                code_version=version,
            ),
            "quarantine": AssetOut(
                key=model_key(config.name, "quarantined_examples"),
                description=(
                    "Feature rows kept out of the example store, each with its `reason`: "
                    "empty text, no label, or a duplicate of an earlier example's text."
                ),
                group_name=MODELS_GROUP,
                kinds={"pandas", "parquet"},
                owners=list(config.owners),
                code_version=version,
            ),
        },
    )
    def example_store(context: AssetExecutionContext, lake: LakeResource) -> Iterator[Output[Any]]:
        """Feature rows of the training windows (train / validation / test days ending on
        the latest materialised day, or a static table's seeded split), normalised and
        split into examples and quarantine (empty, unlabelled, duplicate texts). Metadata:
        the store's version (content hash), kept and quarantined counts by reason, the
        class counts and the data version of every feature partition read."""
        from ml_assets.lib.text.examples import build_example_store

        rows, versions = _windowed_rows(context, lake, config)
        primary = [c for c in config.event_source.primary_key if c in rows.columns]
        store = build_example_store(
            rows,
            text_column=target.text_column,
            label_column=target.name,
            id_columns=primary,
            keep_columns=[
                WINDOW,
                *target.metadata_columns,
                *([EVENT_DATE] if EVENT_DATE in rows else []),
            ],
            min_chars=text.min_chars,
        )
        counts = store.counts()
        context.log.info(f"example store {store.version[:12]}: {counts}")
        if store.examples.empty:
            raise Failure(f"example store of {config.name!r} is empty: {counts}")
        classes = store.examples["label"].value_counts()
        yield Output(
            store.examples,
            output_name="examples",
            data_version=DataVersion(store.version),
            metadata={
                "example_store_version": store.version,
                "examples": counts["kept"],
                "quarantined": MetadataValue.json({k: v for k, v in counts.items() if k != "kept"}),
                "examples_per_class": MetadataValue.json(
                    {str(k): int(v) for k, v in classes.items()}
                ),
                "examples_per_window": MetadataValue.json(
                    {str(k): int(v) for k, v in store.examples[WINDOW].value_counts().items()}
                ),
                "feature_data_versions": MetadataValue.json(versions),
                "dagster/row_count": len(store.examples),
            },
        )
        yield Output(
            store.quarantine,
            output_name="quarantine",
            data_version=DataVersion(frame_hash(store.quarantine)),
            metadata={"dagster/row_count": len(store.quarantine)},
        )

    return example_store


def _windowed_rows(
    context: AssetExecutionContext, lake: LakeResource, config: PipelineConfig
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Feature rows in time order, each tagged with its window, and their data versions."""
    training = config.training
    assert training is not None
    key = features_key(config.name)
    if config.table is not None:
        data = lake.read(key.path)
        labels = data[config.target.name]
        windows = pd.Series("train", index=data.index)
        known = labels.notna()
        windows[known] = window_of_rows(
            labels[known],
            config.table.validation_fraction,
            config.table.test_fraction,
            training.seed,
            stratify=True,
        ).to_numpy()
        return data.assign(**{WINDOW: windows.to_numpy()}), {
            "table": table_version(context.instance, key)
        }
    available = context.instance.get_materialized_partitions(key)
    try:
        as_of = training.as_of or latest_complete_day(available)
        split = training_split(
            as_of, training.train_days, training.validation_days, training.test_days, available
        )
    except ValueError as exc:
        raise Failure(f"example store unusable: {exc}") from exc
    absent = missing_days(split, available)
    if absent:
        raise Failure(
            f"{len(absent)} day(s) of {split.train.start}..{split.test.end} have no features "
            f"({absent[0]} .. {absent[-1]}); materialise them or move the windows"
        )
    frames = [
        lake.read(key.path, day).assign(**{WINDOW: name})
        for name, window in split.windows().items()
        for day in window.days()
    ]
    versions = partition_versions(context.instance, key, split.all_days())
    return pd.concat(frames, ignore_index=True), versions


def _embeddings(config: PipelineConfig) -> AssetsDefinition:
    _, text = text_settings(config)

    @asset(
        key=model_key(config.name, "embeddings"),
        ins={"examples": AssetIn(model_key(config.name, "example_store"))},
        group_name=MODELS_GROUP,
        kinds={"pandas", "parquet"},
        owners=list(config.owners),
        code_version=code_version(_embeddings, text.encoder, uses=("ml_assets.lib.text.encoders",)),
    )
    def embeddings(context: AssetExecutionContext, examples: pd.DataFrame) -> Output[pd.DataFrame]:
        """One unit vector per example of the store (`example_id`, `e0`..`e<dim-1>`), from
        the configured encoder, offline. Metadata: the encoder's name (its version), the
        dimension, and the example store version the vectors belong to."""
        from ml_assets.lib.text.encoders import encode_checked, load_encoder

        try:
            encoder = load_encoder(text.encoder)
        except ValueError as exc:
            raise Failure(str(exc)) from exc
        vectors = encode_checked(encoder, examples["text"].astype(str).tolist())
        frame = pd.DataFrame(
            vectors, columns=[f"{EMBEDDING_PREFIX}{i}" for i in range(encoder.dim)]
        )
        frame.insert(0, "example_id", examples["example_id"].to_numpy())
        zero = int((abs(vectors).sum(axis=1) == 0).sum())
        return Output(
            frame,
            data_version=DataVersion(frame_hash(frame)),
            metadata={
                "encoder": encoder.name,
                "dim": encoder.dim,
                "example_store_version": frame_hash(examples),
                "texts_without_known_token": zero,
                "dagster/row_count": len(frame),
            },
        )

    return embeddings

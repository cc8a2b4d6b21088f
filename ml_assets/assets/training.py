"""The temporal training set: labelled feature rows in train / validation / test windows."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import MODELS_GROUP, WINDOW, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import frame_features
from ml_assets.lib.problems import problem_for
from ml_assets.lib.split import TemporalSplit, latest_complete_day, missing_days, training_split
from ml_assets.lib.static_split import WINDOWS, SplitError, window_from_column, window_of_rows
from ml_assets.lib.trainability import TrainingDataError, check_trainable
from ml_assets.lifecycle.lineage import WHOLE_TABLE, partition_versions, table_version
from resources.lake import LakeResource


def build_training_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_training_set(config)]


def _training_set(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None
    label = config.target.name

    @asset(
        key=model_key(config.name, "training_set"),
        deps=[features_key(config.name)],
        group_name=MODELS_GROUP,
        kinds={"pandas", "parquet"},
        owners=list(config.owners),
        code_version=code_version(
            _training_set,
            training.model_dump(mode="json"),
            uses=("ml_assets.assets.training", "ml_assets.lib.split"),
        ),
    )
    def training_set(context: AssetExecutionContext, lake: LakeResource) -> Output[pd.DataFrame]:
        """Labelled feature rows in back-to-back train / validation / test windows of days,
        ending on the latest materialised day (or `training.as_of`). Never shuffled across
        time; the training window may be sampled down to `max_train_rows`. A static table's
        rows are split once instead: seeded and stratified, or by its split column. Metadata lists
        the windows, rows and class balance per window, and the data version of every
        feature partition used."""
        if config.table is not None:
            data, versions, windows = _static_rows(context, lake, config)
        else:
            data, versions, windows = _temporal_rows(context, lake, config)
        unlabelled = int(data[label].isna().sum())
        data = data[data[label].notna()].reset_index(drop=True)
        if training.max_train_rows:
            data = _cap_train_rows(data, training.max_train_rows, training.seed)
        try:
            balance = check_trainable(
                data,
                WINDOW,
                label,
                frame_features(config),
                config.target.problem_type,
                problem_for(config).classes,
            )
        except TrainingDataError as exc:
            raise Failure(f"training set unusable: {exc}") from exc
        return Output(
            data,
            metadata={
                "windows": MetadataValue.json(windows),
                "rows_per_window": MetadataValue.json(balance["rows"]),
                PROFILE_NAMES[config.target.problem_type]: MetadataValue.json(balance["profile"]),
                "unlabelled_rows_dropped": unlabelled,
                "feature_data_versions": MetadataValue.json(versions),
                "dagster/row_count": len(data),
            },
        )

    return training_set


def _temporal_rows(
    context: AssetExecutionContext, lake: LakeResource, config: PipelineConfig
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """The feature rows of the split's days, each tagged with its window; the data version
    of each day; the windows as ranges of days."""
    training = config.training
    assert training is not None
    key = features_key(config.name)
    available = context.instance.get_materialized_partitions(key)
    as_of = training.as_of or latest_complete_day(available)
    try:
        split = training_split(
            as_of, training.train_days, training.validation_days, training.test_days, available
        )
    except ValueError as exc:
        raise Failure(f"training set unusable: {exc}") from exc
    absent = missing_days(split, available)
    if absent:
        raise Failure(
            f"{len(absent)} day(s) of the split {split.train.start}..{split.test.end} have no "
            f"features ({absent[0]} .. {absent[-1]}); materialise them or move the windows"
        )
    data = _read_windows(lake, key, split)
    versions = partition_versions(context.instance, key, split.all_days())
    return data, versions, {n: str(w) for n, w in split.windows().items()}


def _static_rows(
    context: AssetExecutionContext, lake: LakeResource, config: PipelineConfig
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """A static table's labelled rows, each placed in a window once: by the split column,
    or seeded (stratified by class for classification); its data version; how it was split."""
    table, training = config.table, config.training
    assert table is not None and training is not None
    key = features_key(config.name)
    data = lake.read(key.path)
    data = data[data[config.target.name].notna()].reset_index(drop=True)
    try:
        if table.split_column is not None:
            windows = window_from_column(data[table.split_column])
            how = f"by column {table.split_column}"
        else:
            stratify = config.target.problem_type != "regression"
            windows = window_of_rows(
                data[config.target.name],
                table.validation_fraction,
                table.test_fraction,
                training.seed,
                stratify=stratify,
            )
            how = f"seed {training.seed}" + (", stratified by class" if stratify else "")
    except SplitError as exc:
        raise Failure(f"training set unusable: {exc}") from exc
    data[WINDOW] = windows.to_numpy()
    counts = data[WINDOW].value_counts()
    shown = {name: f"{int(counts.get(name, 0))} rows ({how})" for name in WINDOWS}
    return data, {WHOLE_TABLE: table_version(context.instance, key)}, shown


# What the label looks like in each window, by problem type.
PROFILE_NAMES = {
    "binary_classification": "positive_rate_per_window",
    "multiclass_classification": "class_shares_per_window",
    "regression": "target_mean_per_window",
}


def _read_windows(lake: LakeResource, key: AssetKey, split: TemporalSplit) -> pd.DataFrame:
    """The feature rows of every day of the split, each tagged with its window."""
    frames = [
        lake.read(key.path, day).assign(**{WINDOW: name})
        for name, window in split.windows().items()
        for day in window.days()
    ]
    return pd.concat(frames, ignore_index=True)


def _cap_train_rows(data: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` training-window rows, sampled with `seed`; other windows whole."""
    train_rows = data[WINDOW] == "train"
    if train_rows.sum() <= max_rows:
        return data
    keep = data[train_rows].sample(max_rows, random_state=seed)
    return pd.concat([keep, data[~train_rows]]).sort_index().reset_index(drop=True)

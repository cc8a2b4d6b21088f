"""The reference profile each model version carries: what drift reports compare days with."""

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue, Output, asset

from ml_assets.keys import MONITORING_GROUP, WINDOW, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.monitoring import DriftConfig
from ml_assets.lib.drift import configured_test, configured_thresholds, prediction_of
from ml_assets.lib.drift_calibration import (
    THRESHOLDS_FILE,
    Calibration,
    calibrate,
    calibration_pool,
    typical_day_rows,
)
from ml_assets.lib.drift_stats import ColumnKind
from ml_assets.lib.features import EVENT_DATE, feature_kinds, frame_features
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.problems import Calibration as ProblemCalibration
from ml_assets.lib.problems import Problem, ProblemKind, problem_for
from ml_assets.lib.refs import ModelRef
from ml_assets.lib.scoring import REFERENCE_DIR, REFERENCE_FILE
from resources.lake import LakeResource
from resources.model_registry import ModelRegistryResource


def build_reference_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_reference_profile(config)]


def reference_columns(config: PipelineConfig) -> list[str]:
    return [*frame_features(config), config.target.name]


def calibrated_tests(config: PipelineConfig) -> dict[str, tuple[ColumnKind, str]]:
    """Every monitored feature and the prediction, with its kind and configured method."""
    assert config.monitoring is not None
    policy = config.monitoring.drift
    tests: dict[str, tuple[ColumnKind, str]] = {}
    for name, kind in feature_kinds(config, with_history=False).items():
        if name not in policy.ignore_columns:
            column_kind: ColumnKind = "numerical" if kind == "numeric" else "categorical"
            tests[name] = (column_kind, configured_test(name, column_kind, policy).method)
    column, predicted_kind = prediction_of(problem_for(config))
    method = configured_test(column, predicted_kind, policy, is_prediction=True).method
    tests[column] = (predicted_kind, method)
    return tests


def _reference_profile(config: PipelineConfig) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None and config.training is not None
    seed = config.training.seed
    policy = monitoring.drift
    tests = calibrated_tests(config)
    problem = problem_for(config)

    @asset(
        key=model_key(config.name, "reference_profile"),
        ins={
            "training_set": AssetIn(model_key(config.name, "training_set")),
            "challenger_model": AssetIn(model_key(config.name, "challenger_model")),
        },
        group_name=MONITORING_GROUP,
        kinds={"pandas", "mlflow"},
        owners=list(config.owners),
        code_version=code_version(
            _reference_profile,
            monitoring.reference_rows,
            tests,
            policy.calibration.model_dump(mode="json"),
            policy.min_rows,
            uses=(
                "ml_assets.assets.reference",
                "ml_assets.lib.drift_calibration",
                "ml_assets.lib.drift_stats",
            ),
        ),
    )
    def reference_profile(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        challenger_model: ModelRef,
        model_registry: ModelRegistryResource,
        lake: LakeResource,
    ) -> Output[pd.DataFrame]:
        """A sample of the challenger's training window (features and label) with the
        challenger's own predictions on it. It is stored with the model version (MLflow
        artifact `reference/`, then inside its bento), so once the version is champion,
        every drift report compares the day's features and predictions with it. Next to it,
        `thresholds.json`: the drift threshold of each column calibrated on days of the
        same training window (used where the config sets none), shown in the metadata. When
        `max_train_rows` sampled the window down, calibration draws whole days from the
        stored features instead, as a live day is judged whole."""
        train = training_set[training_set[WINDOW] == "train"]
        sample = train.sample(min(monitoring.reference_rows, len(train)), random_state=seed)
        version_id = str(challenger_model.version)
        profile = sample[reference_columns(config)].reset_index(drop=True)
        profile[problem.drift_column] = _predicted(
            model_registry, challenger_model, sample, problem
        )
        pool = _calibration_rows(config, lake, train, sample)
        calibration = _calibrate(
            (model_registry, challenger_model, problem), pool, profile, tests, policy, seed
        )
        digest = _save_profile(model_registry, config.name, challenger_model, profile, calibration)
        calibrated = sum(c.threshold is not None for c in calibration.columns.values())
        context.log.info(
            f"reference profile of v{version_id}: {len(profile)} rows; "
            f"{calibrated} of {len(calibration.columns)} drift thresholds calibrated"
        )
        metadata = _profile_metadata(profile, version_id, digest, problem, calibration)
        if problem.kind == ProblemKind.BINARY:
            positive = profile[config.target.name].astype(float).mean()
            metadata["positive_rate"] = round(float(positive), 4)
        return Output(profile, metadata=metadata)

    return reference_profile


def _calibration_rows(
    config: PipelineConfig, lake: LakeResource, train: pd.DataFrame, sample: pd.DataFrame
) -> pd.DataFrame:
    """The training-window rows calibration draws its days from, each day in EVENT_DATE.
    Drawn days must be the size of the live days drift judges: when the window was
    sampled down to `max_train_rows`, its days are thinner (noisier) than real ones, so the
    whole days are read back from the stored features (a few of their rows are also in the
    reference sample); otherwise the window's own rows outside the reference sample. A
    static table has no days: its pool is random batches of the size its scoring batches
    typically have."""
    if config.table is not None and config.table.batches is not None:
        return random_batches(
            calibration_pool(train, sample.index),
            config.table.batches.typical_rows,
            _batch_count(config),
            config.training.seed if config.training else 0,
        )
    cap = config.training.max_train_rows if config.training else None
    if not cap or len(train) < cap:
        return calibration_pool(train, sample.index)
    days = sorted(pd.to_datetime(train[EVENT_DATE].unique()).strftime("%Y-%m-%d"))
    path = features_key(config.name).path
    return pd.concat([lake.read(path, day) for day in days], ignore_index=True)


def _batch_count(config: PipelineConfig) -> int:
    """Enough random batches that calibration can draw its days from them."""
    assert config.monitoring is not None
    calibration = config.monitoring.drift.calibration
    return max(calibration.min_days, calibration.resamples)


def random_batches(pool: pd.DataFrame, rows: int, batches: int, seed: int) -> pd.DataFrame:
    """`batches` draws of `rows` random rows of `pool` (with replacement only when the pool
    is smaller than a batch), each draw named in EVENT_DATE: the days of a table without
    days, for calibration."""
    rng = np.random.default_rng(seed)
    draws = [rng.choice(len(pool), size=rows, replace=rows > len(pool)) for _ in range(batches)]
    out = pool.iloc[np.concatenate(draws)].reset_index(drop=True)
    out[EVENT_DATE] = np.repeat([f"batch-{i}" for i in range(batches)], rows)
    return out


def _calibrate(
    scorer: tuple[ModelRegistryResource, ModelRef, Problem],
    pool: pd.DataFrame,
    profile: pd.DataFrame,
    tests: dict[str, tuple[ColumnKind, str]],
    policy: DriftConfig,
    seed: int,
) -> Calibration:
    """The drift threshold of each column, calibrated on days of the training window (`pool`),
    with the model's own predictions on them."""
    registry, model, problem = scorer
    pool = pool.assign(**{problem.drift_column: _predicted(registry, model, pool, problem)})
    features = [c for c in tests if c != problem.drift_column]
    return calibrate(
        profile,
        pool,
        EVENT_DATE,
        tests,
        policy.calibration,
        day_rows=typical_day_rows(pool[EVENT_DATE]),
        min_rows=policy.min_rows,
        seed=seed,
        share_columns=features,
        configured=configured_thresholds(features, tests, policy),
    )


def _save_profile(
    registry: ModelRegistryResource,
    pipeline: str,
    model: ModelRef,
    profile: pd.DataFrame,
    calibration: Calibration,
) -> str:
    """Log the profile and its thresholds to the model's MLflow run (`reference/`) and tag
    its model version with the profile's size and hash; return that hash."""
    with tempfile.TemporaryDirectory() as folder:
        profile.to_parquet(Path(folder) / REFERENCE_FILE, index=False)
        (Path(folder) / THRESHOLDS_FILE).write_text(calibration.to_json())
        registry.log_files(model.mlflow_run_id, Path(folder), REFERENCE_DIR)
    digest = frame_hash(profile)
    registry.tag_version(
        pipeline, str(model.version), {"reference_rows": len(profile), "reference_hash": digest}
    )
    return digest


def _profile_metadata(
    profile: pd.DataFrame, version_id: str, digest: str, problem: Problem, calibration: Calibration
) -> dict[str, Any]:
    column = profile[problem.drift_column]
    if problem.drift_kind == "numeric":
        shown: dict[str, Any] = {f"mean_{problem.drift_column}": round(float(column.mean()), 4)}
    else:
        shares = column.astype("string").value_counts(normalize=True).round(4)
        shares_of = {str(k): float(v) for k, v in shares.items()}
        shown = {"predicted_class_shares": MetadataValue.json(shares_of)}
    return {
        "model_version": version_id,
        "rows": len(profile),
        "reference_hash": digest,
        **shown,
        **_calibration_metadata(calibration),
    }


def _predicted(
    registry: ModelRegistryResource, model: ModelRef, rows: pd.DataFrame, problem: Problem
) -> Any:
    """The model's prediction of each row, as the problem type's prediction drift reads
    it (binary: P(positive); multiclass: the predicted class; regression: the value)."""
    predictions = registry.score(model, rows, problem)
    calibration = ProblemCalibration.from_metadata(model.calibration_metadata())
    return problem.outputs(predictions, calibration)[problem.drift_column]


def _calibration_metadata(calibration: Calibration) -> dict[str, Any]:
    table = calibration.table()
    return {
        "calibration_day_rows": calibration.day_rows,
        "calibration_days": calibration.days,
        "calibration_resamples": calibration.resamples,
        "calibration_quantile": calibration.quantile,
        "calibrated_thresholds": int(table["threshold"].notna().sum()),
        "calibrated_share_warn": calibration.share_warn,
        "calibrated_share_error": calibration.share_error,
        "thresholds": MetadataValue.md(table.to_markdown(index=False, floatfmt=".4g")),
    }

"""The reference profile each model version carries: what drift reports compare days with."""

import tempfile
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, Output, asset

from ml_assets.keys import MONITORING_GROUP, WINDOW, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.drift import PREDICTION
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.refs import ModelRef
from ml_assets.lib.scoring import REFERENCE_DIR, REFERENCE_FILE
from resources.model_registry import ModelRegistryResource


def build_reference_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_reference_profile(config)]


def reference_columns(config: PipelineConfig) -> list[str]:
    return [*config.features.definitions, config.target.name]


def _reference_profile(config: PipelineConfig) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None and config.training is not None
    seed = config.training.seed

    @asset(
        key=model_key(config.name, "reference_profile"),
        ins={
            "training_set": AssetIn(model_key(config.name, "training_set")),
            "challenger_model": AssetIn(model_key(config.name, "challenger_model")),
        },
        group_name=MONITORING_GROUP,
        kinds={"pandas", "mlflow"},
        owners=list(config.owners),
        code_version=code_version(_reference_profile, monitoring.reference_rows),
    )
    def reference_profile(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        challenger_model: ModelRef,
        model_registry: ModelRegistryResource,
    ) -> Output[pd.DataFrame]:
        """A sample of the challenger's training window (features and label) with the
        challenger's own predictions on it. It is stored with the model version (MLflow
        artifact `reference/`, then inside its bento), so once the version is champion,
        every drift report compares the day's features and predictions with it."""
        train = training_set[training_set[WINDOW] == "train"]
        sample = train.sample(min(monitoring.reference_rows, len(train)), random_state=seed)
        version_id = str(challenger_model.version)
        profile = sample[reference_columns(config)].reset_index(drop=True)
        profile[PREDICTION] = model_registry.score(challenger_model, sample)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / REFERENCE_FILE
            profile.to_parquet(path, index=False)
            model_registry.log_files(challenger_model.mlflow_run_id, path, REFERENCE_DIR)
        digest = frame_hash(profile)
        model_registry.tag_version(
            config.name, version_id, {"reference_rows": len(profile), "reference_hash": digest}
        )
        context.log.info(f"reference profile of v{version_id}: {len(profile)} rows")
        return Output(
            profile,
            metadata={
                "model_version": version_id,
                "rows": len(profile),
                "reference_hash": digest,
                "mean_probability": round(float(profile[PREDICTION].mean()), 4),
                "positive_rate": round(float(profile[config.target.name].astype(float).mean()), 4),
            },
        )

    return reference_profile

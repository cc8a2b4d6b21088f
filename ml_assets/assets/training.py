"""Model assets of a pipeline: the temporal training set, tuned candidates, the challenger."""

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import MODELS_GROUP, WINDOW, features_key, model_key, section_version
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.features import feature_kinds
from ml_assets.lib.split import latest_complete_day, missing_days, temporal_split
from ml_assets.lib.trainability import TrainingDataError, check_trainable
from ml_assets.lifecycle.lineage import partition_versions, run_tags
from resources.lake import LakeResource
from resources.model_registry import CHALLENGER, ModelRegistryResource


def build_training_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_training_set(config), _candidates(config), _challenger(config)]


def split_frames(training_set: pd.DataFrame, spec: FeatureSpec) -> dict[str, tuple[Any, Any]]:
    """(matrix, labels) per window, built with the feature spec learnt on training rows."""
    return {
        str(name): (spec.matrix(rows), spec.labels(rows).to_numpy())
        for name, rows in training_set.groupby(WINDOW, sort=False)
    }


def window_tags(training_set: pd.DataFrame) -> dict[str, str]:
    """The partition window of each split, e.g. window.train = 2013-07-20..2013-11-16."""
    days = training_set.groupby(WINDOW)["event_date"].agg(["min", "max"])
    return {f"window.{name}": f"{row['min']}..{row['max']}" for name, row in days.iterrows()}


def fit_spec(config: PipelineConfig, training_set: pd.DataFrame) -> FeatureSpec:
    train = training_set[training_set[WINDOW] == "train"]
    return FeatureSpec.fit(train, feature_kinds(config), config.target.name)


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
        code_version=section_version("training_set", training.model_dump(mode="json")),
    )
    def training_set(context: AssetExecutionContext, lake: LakeResource) -> Output[pd.DataFrame]:
        """Labelled feature rows in back-to-back train / validation / test windows of days,
        ending on the latest materialised day (or `training.as_of`). Never shuffled across
        time; the training window may be sampled down to `max_train_rows`. Metadata lists
        the windows, rows and class balance per window, and the data version of every
        feature partition used."""
        key = features_key(config.name)
        available = context.instance.get_materialized_partitions(key)
        as_of = training.as_of or latest_complete_day(available)
        split = temporal_split(
            as_of, training.train_days, training.validation_days, training.test_days
        )
        absent = missing_days(split, available)
        if absent:
            raise Failure(
                f"{len(absent)} day(s) of the split {split.train.start}..{split.test.end} have no "
                f"features ({absent[0]} .. {absent[-1]}); materialise them or move the windows"
            )
        frames = [
            lake.read(key.path, day).assign(**{WINDOW: name})
            for name, window in split.windows().items()
            for day in window.days()
        ]
        data = pd.concat(frames, ignore_index=True)
        unlabelled = int(data[label].isna().sum())
        data = data[data[label].notna()].reset_index(drop=True)
        train_rows = data[WINDOW] == "train"
        if training.max_train_rows and train_rows.sum() > training.max_train_rows:
            keep = data[train_rows].sample(training.max_train_rows, random_state=training.seed)
            data = pd.concat([keep, data[~train_rows]]).sort_index().reset_index(drop=True)
        try:
            balance = check_trainable(data, WINDOW, label, list(config.features.definitions))
        except TrainingDataError as exc:
            raise Failure(f"training set unusable: {exc}") from exc
        versions = partition_versions(context.instance, key, split.all_days())
        return Output(
            data,
            metadata={
                "windows": MetadataValue.json({n: str(w) for n, w in split.windows().items()}),
                "rows_per_window": MetadataValue.json(balance["rows"]),
                "positive_rate_per_window": MetadataValue.json(balance["positive_rate"]),
                "unlabelled_rows_dropped": unlabelled,
                "feature_data_versions": MetadataValue.json(versions),
                "dagster/row_count": len(data),
            },
        )

    return training_set


def _candidates(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None

    @asset(
        key=model_key(config.name, "candidates"),
        ins={"training_set": AssetIn(model_key(config.name, "training_set"))},
        group_name=MODELS_GROUP,
        kinds={"optuna", "mlflow", "xgboost", "scikit-learn"},
        owners=list(config.owners),
        code_version=section_version("candidates", training.model_dump(mode="json")),
    )
    def candidates(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        model_registry: ModelRegistryResource,
    ) -> Output[pd.DataFrame]:
        """Each enabled model family tuned by Optuna (seeded TPE, median pruning) on the
        validation window, refit on the training window and saved without pickle
        (XGBoost's own format or skops, with a feature spec and sha256 manifest). One
        MLflow run per training with a nested run per family: parameters, validation AUC,
        the tuning history and the model files."""
        from ml_assets.lib.artifacts import save_model
        from ml_assets.lib.tuning import tune_candidate

        spec = fit_spec(config, training_set)
        windows = split_frames(training_set, spec)
        tags = run_tags(context, config) | window_tags(training_set)
        rows = []
        with model_registry.run(config.name, f"train {context.run.run_id[:8]}", tags) as parent:
            client = model_registry.client()
            for family, candidate in training.candidates.items():
                if not candidate.enabled:
                    continue
                with model_registry.run(
                    config.name, family, {**tags, "family": family}, parent.info.run_id
                ) as child:
                    result = tune_candidate(
                        family,
                        candidate,
                        training.tuning,
                        spec,
                        windows["train"],
                        windows["validation"],
                        training.seed,
                        study_name=f"{config.name}-{family}-{context.run.run_id}",
                    )
                    run_id = child.info.run_id
                    for name, value in result.best_params.items():
                        client.log_param(run_id, name, value)
                    for name, value in {
                        "validation_roc_auc": result.best_value,
                        "trials": result.n_trials,
                        "trials_pruned": result.n_pruned,
                        "tuning_seconds": result.seconds,
                    }.items():
                        client.log_metric(run_id, name, float(value))
                    with tempfile.TemporaryDirectory() as folder:
                        history = Path(folder) / "tuning_history.csv"
                        result.history.to_csv(history, index=False)
                        client.log_artifact(run_id, str(history))
                        manifest = save_model(
                            result.model,
                            spec,
                            Path(folder) / "model",
                            extra={"family": family, **tags},
                        )
                        client.log_artifacts(run_id, str(Path(folder) / "model"), "model")
                context.log.info(
                    f"{family}: validation AUC {result.best_value:.4f}, {result.n_trials} "
                    f"trials ({result.n_pruned} pruned) in {result.seconds:.0f} s"
                )
                rows.append(
                    {
                        "family": family,
                        "validation_roc_auc": result.best_value,
                        "trials": result.n_trials,
                        "trials_pruned": result.n_pruned,
                        "tuning_seconds": round(result.seconds, 1),
                        "best_params": json.dumps(result.best_params, default=str),
                        "mlflow_run_id": run_id,
                        "manifest_sha256": manifest.manifest_sha256,
                    }
                )
        table = pd.DataFrame(rows).sort_values("validation_roc_auc", ascending=False)
        shown = table[["family", "validation_roc_auc", "trials", "trials_pruned", "tuning_seconds"]]
        return Output(
            table.reset_index(drop=True),
            metadata={
                "candidates": MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4f")),
                "trials_pruned": int(table["trials_pruned"].sum()),
                "tuning_seconds": float(table["tuning_seconds"].sum()),
                "mlflow_run_id": parent.info.run_id,
            },
        )

    return candidates


def _challenger(config: PipelineConfig) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, "challenger_model"),
        ins={"candidates": AssetIn(model_key(config.name, "candidates"))},
        group_name=MODELS_GROUP,
        kinds={"mlflow"},
        owners=list(config.owners),
        code_version=section_version("challenger_model", 1),
    )
    def challenger_model(
        context: AssetExecutionContext,
        candidates: pd.DataFrame,
        model_registry: ModelRegistryResource,
    ) -> Output[pd.DataFrame]:
        """The candidate with the best validation ROC AUC, registered as a new version of
        the pipeline's MLflow model with the alias `challenger` and its manifest hash."""
        best = candidates.sort_values("validation_roc_auc", ascending=False).iloc[0]
        tags = {
            **run_tags(context, config),
            "family": str(best["family"]),
            "manifest_sha256": str(best["manifest_sha256"]),
            "validation_roc_auc": f"{best['validation_roc_auc']:.6f}",
        }
        version = model_registry.register(config.name, str(best["mlflow_run_id"]), "model", tags)
        model_registry.set_alias(config.name, CHALLENGER, version.version)
        row = best.to_dict() | {"version": str(version.version), "source": version.source}
        return Output(
            pd.DataFrame([row]),
            metadata={
                "family": str(best["family"]),
                "version": str(version.version),
                "validation_roc_auc": round(float(best["validation_roc_auc"]), 4),
                "mlflow_run_id": str(best["mlflow_run_id"]),
            },
        )

    return challenger_model

"""Deployment assets: the champion's bento, and daily batch predictions by the champion."""

from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.keys import DEPLOYMENT_GROUP, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.problems import Problem, ProblemKind
from ml_assets.lib.refs import BentoRef
from ml_assets.lifecycle.packaging import package_champion
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource
from resources.model_registry import CHAMPION, ModelRegistryResource


def build_deployment_assets(
    config: PipelineConfig, partitions: PartitionsDefinition | None
) -> list[AssetsDefinition]:
    """The champion's bento; batch predictions of each day when the pipeline has days (a
    static table's new rows are scored by the service, or as scoring batches: see
    ml_assets/assets/batches.py)."""
    if partitions is None:
        return [_champion_bento(config)]
    return [_champion_bento(config), batch_predictions_asset(config, partitions)]


def _champion_bento(config: PipelineConfig) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, "champion_bento"),
        deps=[
            model_key(config.name, "champion_model"),
            # A champion's bento packages its reference profile for monitoring.
            *([model_key(config.name, "reference_profile")] if config.monitoring else []),
        ],
        group_name=DEPLOYMENT_GROUP,
        kinds={"bentoml"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            _champion_bento,
            config.serving.model_dump(mode="json"),
            uses=("ml_assets.lifecycle.packaging", "ml_assets.lib.scoring"),
        ),
    )
    def champion_bento(
        context: AssetExecutionContext,
        model_registry: ModelRegistryResource,
        bento_store: BentoStoreResource,
        lake: LakeResource,
    ) -> Output[BentoRef]:
        """The BentoML bento that serves the current champion: a serving bundle (verified
        model, the reference tables its features join, config, metadata) imported as a
        BentoML model, and the service built around it. A new champion gives a new bento
        tagged with its version; a kept champion reuses the bento it already has. The
        bento's generated Dockerfile describes its container image."""
        champion = model_registry.by_alias(config.name, CHAMPION)
        if champion is None:
            raise Failure(f"{config.name} has no champion yet: train and promote one first")
        bento = package_champion(model_registry, bento_store, lake, config, champion)
        context.log.info(f"{'built' if bento.built else 'kept existing'} bento {bento.tag}")
        return Output(
            bento,
            metadata={
                "bento_tag": bento.tag,
                "model_version": str(champion.version),
                "rebuilt": bento.built,
                "dockerfile": MetadataValue.path(bento.dockerfile),
                "dockerfile_sha256": bento.dockerfile_sha256,
                "serve": MetadataValue.md(f"`bentoml serve {bento.tag} --host 127.0.0.1`"),
            },
        )

    return champion_bento


_PREDICTION_TYPES: dict[ProblemKind, dict[str, str]] = {
    ProblemKind.BINARY: {"probability": "float64", "label": "bool"},
    ProblemKind.MULTICLASS: {"probability": "float64", "label": "string"},
    ProblemKind.REGRESSION: {"prediction": "float64", "lower": "float64", "upper": "float64"},
}


def prediction_summary(scored: pd.DataFrame, problem: Problem) -> dict[str, Any]:
    """What a day of predictions looks like, for the UI: the mean probability and the
    positive rate (binary), the class shares (multiclass), the mean value (regression)."""
    if problem.kind == ProblemKind.BINARY:
        return {
            "mean_probability": round(float(scored["probability"].mean()), 4),
            "predicted_positive_rate": round(float(scored["label"].mean()), 4),
        }
    if problem.kind == ProblemKind.MULTICLASS:
        shares = scored["label"].value_counts(normalize=True)
        named = {str(k): round(float(v), 4) for k, v in shares.items()}
        return {"predicted_class_shares": MetadataValue.json(named)}
    return {"mean_prediction": round(float(scored["prediction"].mean()), 4)}


def batch_predictions_asset(
    config: PipelineConfig, partitions: PartitionsDefinition, features: AssetKey | None = None
) -> AssetsDefinition:
    """Each partition of `features` (the pipeline's features) scored by the champion."""
    entity = [*config.features.entity_columns, EVENT_DATE]

    @asset(
        key=model_key(config.name, "batch_predictions"),
        ins={
            "features": AssetIn(features or features_key(config.name)),
            "champion_bento": AssetIn(model_key(config.name, "champion_bento")),
        },
        group_name=DEPLOYMENT_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"pandas", "parquet", "bentoml"},
        owners=list(config.owners),
        code_version=code_version(
            batch_predictions_asset, config.promotion.threshold, uses=("ml_assets.lib.scoring",)
        ),
    )
    def batch_predictions(
        context: AssetExecutionContext,
        features: pd.DataFrame,
        champion_bento: BentoRef,
        bento_store: BentoStoreResource,
    ) -> Output[pd.DataFrame]:
        """Every feature row of the partition (a day, or a batch) scored by the champion
        that the bento serves, with the same scoring code as the service: per row its
        prediction (probability and label; class and class probabilities; or value and
        interval) and the model version, next to the entity columns and the label once it
        is known."""
        scorer = bento_store.scorer(champion_bento.model_tag)
        scored = scorer.score_features(features)
        out = features[[c for c in entity if c in features.columns]].copy()
        for column in scored.columns:
            out[column] = scored[column].to_numpy()
        out = out.astype(_PREDICTION_TYPES.get(scorer.problem.kind, {}))
        out["model_version"] = out["model_version"].astype("string")
        out["actual"] = features[config.target.name]
        summary = prediction_summary(out, scorer.problem) if len(out) else {}
        return Output(out, metadata={"model_version": scorer.model_version, **summary})

    return batch_predictions

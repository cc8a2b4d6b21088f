"""Deployment assets: the champion's bento, and daily batch predictions by the champion."""

import functools
import hashlib
import tempfile
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets import environment
from ml_assets.keys import DEPLOYMENT_GROUP, features_key, model_key, section_version
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.scoring import Scorer
from ml_assets.lifecycle.packaging import bento_tag, build_bento, existing_bento, export_bundle
from resources.lake import LakeResource
from resources.model_registry import CHAMPION, ModelRegistryResource


def build_deployment_assets(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    return [_champion_bento(config), _batch_predictions(config, partitions)]


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
        code_version=section_version("champion_bento", config.serving.model_dump(mode="json")),
    )
    def champion_bento(
        context: AssetExecutionContext,
        model_registry: ModelRegistryResource,
        lake: LakeResource,
    ) -> Output[pd.DataFrame]:
        """The BentoML bento that serves the current champion: a serving bundle (verified
        model, the reference tables its features join, config, metadata) imported as a
        BentoML model, and the service built around it. A new champion gives a new bento
        tagged with its version; a kept champion reuses the bento it already has. The
        bento's generated Dockerfile describes its container image."""
        champion = model_registry.version_by_alias(config.name, CHAMPION)
        if champion is None:
            raise Failure(f"{config.name} has no champion yet: train and promote one first")
        tag = bento_tag(config.name, champion.version, champion.tags.get("manifest_sha256", ""))
        bento = existing_bento(tag)
        built = bento is None
        if bento is None:
            with tempfile.TemporaryDirectory() as folder:
                bundle = Path(folder) / "bundle"
                export_bundle(model_registry, lake, config, champion.version, bundle)
                bento = build_bento(config, champion.version, tag, bundle)
        dockerfile = Path(bento.path) / "env" / "docker" / "Dockerfile"
        digest = hashlib.sha256(dockerfile.read_bytes()).hexdigest()
        context.log.info(f"{'built' if built else 'kept existing'} bento {bento.tag}")
        row = {
            "bento_tag": str(bento.tag),
            "model_version": str(champion.version),
            "built": built,
            "dockerfile": str(dockerfile),
            "dockerfile_sha256": digest,
        }
        return Output(
            pd.DataFrame([row]),
            metadata={
                "bento_tag": str(bento.tag),
                "model_version": str(champion.version),
                "rebuilt": built,
                "dockerfile": MetadataValue.path(str(dockerfile)),
                "dockerfile_sha256": digest,
                "serve": MetadataValue.md(f"`bentoml serve {bento.tag} --host 127.0.0.1`"),
            },
        )

    return champion_bento


def _batch_predictions(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    entity = [*config.features.entity_columns, EVENT_DATE]

    @asset(
        key=model_key(config.name, "batch_predictions"),
        ins={
            "features": AssetIn(features_key(config.name)),
            "champion_bento": AssetIn(model_key(config.name, "champion_bento")),
        },
        group_name=DEPLOYMENT_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"pandas", "parquet", "bentoml"},
        owners=list(config.owners),
        code_version=section_version("batch_predictions", config.promotion.threshold),
    )
    def batch_predictions(
        context: AssetExecutionContext, features: pd.DataFrame, champion_bento: pd.DataFrame
    ) -> Output[pd.DataFrame]:
        """Every feature row of the day scored by the champion that the bento serves, with
        the same scoring code as the service: probability, label and model version per
        row, next to the entity columns and the label once it is known."""
        scorer = _scorer(str(champion_bento.iloc[0]["bento_tag"]))
        scored = scorer.score_features(features)
        out = features[[c for c in entity if c in features.columns]].copy()
        out[["probability", "label", "model_version"]] = scored.to_numpy()
        out = out.astype({"probability": "float64", "label": "bool", "model_version": "string"})
        out["actual"] = features[config.target.name]
        return Output(
            out,
            metadata={
                "model_version": scorer.model_version,
                "mean_probability": round(float(out["probability"].mean()), 4) if len(out) else 0.0,
                "predicted_positive_rate": round(float(out["label"].mean()), 4)
                if len(out)
                else 0.0,
            },
        )

    return batch_predictions


@functools.lru_cache(maxsize=4)
def _scorer(tag: str) -> Scorer:
    environment.bentoml_home()
    import bentoml

    return Scorer.from_bundle(Path(bentoml.models.get(tag).path))

"""The audit passport asset: one reviewable record per champion version."""

from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MetadataValue, Output, asset

from ml_assets import environment
from ml_assets.keys import AUDIT_GROUP, model_key, section_version
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.passport_render import render_markdown
from ml_assets.lifecycle.passport import build_passport, write_passport
from resources.model_registry import CHAMPION, ModelRegistryResource


def passports_dir(pipeline: str) -> Path:
    return environment.state_dir() / "audit" / "passports" / pipeline


def build_audit_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    @asset(
        key=model_key(config.name, "passport"),
        deps=[model_key(config.name, "champion_bento")],
        group_name=AUDIT_GROUP,
        kinds={"json"},
        owners=list(config.owners),
        code_version=section_version("passport", 1),
    )
    def passport(
        context: AssetExecutionContext, model_registry: ModelRegistryResource
    ) -> Output[pd.DataFrame]:
        """The champion's audit passport: the training, validation and test partitions and
        their data versions, the materialisations they came from (read from the Dagster
        event log), the code version of every asset on the path and the git commit, the
        config's hash and content, the data checks on those partitions, the evaluation,
        SHAP top features, the MLflow run and registered version, the promotion decision
        and its decision-log entry, and the bento. Stored as JSON, shown as Markdown."""
        champion = model_registry.version_by_alias(config.name, CHAMPION)
        if champion is None:
            raise Failure(f"{config.name} has no champion to write a passport for")
        record = build_passport(context.instance, model_registry, config, str(champion.version))
        path = write_passport(record, passports_dir(config.name))
        return Output(
            pd.DataFrame(
                [
                    {
                        "passport_id": record["passport_id"],
                        "path": str(path),
                        "missing": len(record["missing"]),
                    }
                ]
            ),
            metadata={
                "passport_id": record["passport_id"],
                "missing_items": len(record["missing"]),
                "passport": MetadataValue.md(render_markdown(record)),
                "json": MetadataValue.path(str(path)),
            },
        )

    return [passport]

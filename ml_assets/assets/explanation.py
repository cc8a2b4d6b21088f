"""Explanation of the challenger on the test window no tuning has seen."""

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue, Output, asset

from ml_assets.assets.evaluation import holdout_rows
from ml_assets.keys import EVALUATION_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.refs import ModelRef
from resources.model_registry import ModelRegistryResource


def build_explanation_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_explanation(config)]


def _explanation(config: PipelineConfig) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, "explanation"),
        ins={
            "training_set": AssetIn(model_key(config.name, "training_set")),
            "challenger_model": AssetIn(model_key(config.name, "challenger_model")),
        },
        group_name=EVALUATION_GROUP,
        kinds={"shap", "mlflow"},
        owners=list(config.owners),
        code_version=code_version(
            _explanation, uses=("ml_assets.assets.explanation", "ml_assets.lib.explain")
        ),
    )
    def explanation(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        challenger_model: ModelRef,
        model_registry: ModelRegistryResource,
    ) -> Output[pd.DataFrame]:
        """SHAP global importance (mean |SHAP value|) of the challenger on a sample of the
        test window, with a summary plot (multiclass: per class too, and each row's values
        towards its predicted class); for XGBoost, the largest gap between SHAP and
        XGBoost's own per-feature contributions, which must be near zero."""
        from ml_assets.lib import explain, plots

        test = holdout_rows(training_set)
        loaded = model_registry.load(challenger_model)
        with tempfile.TemporaryDirectory() as folder:
            result = explain.shap_values(loaded, loaded.spec, test, sample=2000, seed=0)
            metadata: dict[str, Any] = {}
            if loaded.manifest.flavor == "xgboost":
                sample = test.loc[result.values.index]
                contributions = explain.xgboost_contributions(loaded.model, loaded.spec, sample)
                gap = explain.agreement(result.values, contributions)
                metadata["shap_vs_xgboost_max_abs_diff"] = float(gap)
                if gap > 1e-3:
                    raise RuntimeError(f"SHAP disagrees with XGBoost's contributions by {gap:.2e}")
            if result.per_class is not None:
                by_class = result.per_class.loc[result.global_importance.index[:15]]
                metadata["importance_per_class"] = MetadataValue.md(
                    by_class.to_markdown(floatfmt=".4f")
                )
            summary = explain.plot_summary(result, Path(folder) / "shap_summary.png")
            model_registry.log_files(challenger_model.mlflow_run_id, summary, "explanation")
            picture = plots.markdown_image(summary, "SHAP global importance")
        importance = (
            result.global_importance.rename("mean_abs_shap").rename_axis("feature").reset_index()
        )
        return Output(
            importance,
            metadata={
                **metadata,
                "top_features": MetadataValue.md(
                    importance.head(15).to_markdown(index=False, floatfmt=".4f")
                ),
                "summary_plot": MetadataValue.md(picture),
                "sample_rows": len(result.values),
            },
        )

    return explanation


__all__ = ["build_explanation_assets"]

"""Evaluation and explanation of the challenger on the test window no tuning has seen."""

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import EVALUATION_GROUP, WINDOW, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.refs import CandidateSet, ModelRef
from resources.model_registry import ModelRegistryResource


def build_evaluation_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_evaluation(config), _explanation(config)]


def holdout_rows(training_set: pd.DataFrame) -> pd.DataFrame:
    return training_set[training_set[WINDOW] == "test"].reset_index(drop=True)


def _evaluation(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None
    threshold = config.promotion.threshold
    label = config.target.name

    @asset(
        key=model_key(config.name, "evaluation"),
        ins={
            "training_set": AssetIn(model_key(config.name, "training_set")),
            "candidates": AssetIn(model_key(config.name, "candidates")),
            "challenger_model": AssetIn(model_key(config.name, "challenger_model")),
        },
        group_name=EVALUATION_GROUP,
        kinds={"scikit-learn", "mlflow"},
        owners=list(config.owners),
        code_version=code_version(
            _evaluation,
            config.promotion.threshold,
            training.slice_columns,
            uses=("ml_assets.lib.metrics", "ml_assets.lib.plots"),
        ),
    )
    def evaluation(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        candidates: CandidateSet,
        challenger_model: ModelRef,
        model_registry: ModelRegistryResource,
    ) -> Output[pd.DataFrame]:
        """The challenger on the test window next to the majority-class and logistic
        baselines: accuracy, precision, recall, F1, ROC AUC, PR AUC, log loss, Brier;
        confusion matrix, ROC, PR and calibration curves (PNG, inline and in MLflow);
        metrics per slice with counts."""
        from ml_assets.lib import metrics, plots

        test = holdout_rows(training_set)
        y = test[label].astype(bool).astype(int).to_numpy()
        challenger = challenger_model
        scores = {f"challenger ({challenger.family})": model_registry.score(challenger, test)}
        logistic = candidates.family("logistic_regression")
        if logistic is not None and challenger.family != "logistic_regression":
            scores["logistic baseline"] = model_registry.score(logistic.model, test)
        train_y = training_set.loc[training_set[WINDOW] == "train", label].astype(bool)
        scores["majority baseline"] = metrics.majority_baseline(
            train_y.astype(int).to_numpy(), len(y)
        )

        table = pd.DataFrame(
            {name: metrics.binary_metrics(y, p, threshold) for name, p in scores.items()}
        ).T
        challenger_name = next(iter(scores))
        p_challenger = scores[challenger_name]
        confusion = metrics.confusion(y, (p_challenger >= threshold).astype(int))
        slices = metrics.slice_metrics(test, y, p_challenger, training.slice_columns, threshold)

        run_id = challenger.mlflow_run_id
        model_registry.log_metrics(
            run_id,
            {f"test_{name}": value for name, value in table.loc[challenger_name].to_dict().items()},
        )
        images = {}
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            images["ROC"] = plots.plot_roc(
                {n: metrics.roc_points(y, p) for n, p in scores.items()}, out / "roc.png"
            )
            images["Precision-recall"] = plots.plot_pr(
                {n: metrics.pr_points(y, p) for n, p in scores.items()}, out / "pr.png"
            )
            images["Calibration"] = plots.plot_calibration(
                {n: metrics.calibration_table(y, p) for n, p in scores.items()},
                out / "calibration.png",
            )
            images["Confusion matrix"] = plots.plot_confusion(
                confusion, out / "confusion.png", f"{challenger_name} at {threshold}"
            )
            slices.to_csv(out / "slices.csv", index=False)
            table.to_csv(out / "metrics.csv")
            model_registry.log_files(run_id, out, "evaluation")
            pictures = "\n\n".join(
                plots.markdown_image(path, name) for name, path in images.items()
            )

        main = table.loc[challenger_name]
        return Output(
            table.reset_index(names="model"),
            metadata={
                "roc_auc": _number(main["roc_auc"]),
                "pr_auc": _number(main["pr_auc"]),
                "log_loss": _number(main["log_loss"]),
                "brier": _number(main["brier"]),
                "f1": _number(main["f1"]),
                "holdout_rows": len(y),
                "metrics": MetadataValue.md(_comparison_markdown(table, challenger_name)),
                "confusion_matrix": MetadataValue.json(confusion),
                "plots": MetadataValue.md(pictures),
                "slices": MetadataValue.md(
                    slices.head(40).to_markdown(index=False, floatfmt=".4f")
                ),
                "mlflow_run_id": run_id,
            },
        )

    return evaluation


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
        code_version=code_version(_explanation, uses=("ml_assets.lib.explain",)),
    )
    def explanation(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        challenger_model: ModelRef,
        model_registry: ModelRegistryResource,
    ) -> Output[pd.DataFrame]:
        """SHAP global importance (mean |SHAP value|) of the challenger on a sample of the
        test window, with a summary plot; for XGBoost, the largest gap between SHAP and
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


def _comparison_markdown(table: pd.DataFrame, challenger_name: str) -> str:
    """The models side by side, one short-named column each and a metric per row, so that
    the table fits the UI's metadata value column (a row per model overflows it)."""
    shown = table.drop(columns="n", errors="ignore").T
    shown.columns = [str(name).split()[0] for name in shown.columns]
    legend = {
        "challenger": challenger_name.removeprefix("challenger ").strip("()"),
        "logistic": "the tuned logistic-regression candidate",
        "majority": "always the training window's majority class",
    }
    notes = "; ".join(f"{name}: {legend[name]}" for name in shown.columns if name in legend)
    return f"{shown.to_markdown(floatfmt='.4f')}\n\n{notes}"


def _number(value: Any) -> float:
    """A headline metric for the UI, rounded to 4 decimals (the asset's table and MLflow keep
    the exact values); NaN when the metric is undefined (e.g. a single-class window)."""
    return round(float(value), 4) if value is not None and not pd.isna(value) else float("nan")


__all__ = ["build_evaluation_assets"]

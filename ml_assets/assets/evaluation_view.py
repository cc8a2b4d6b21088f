"""What the evaluation asset shows: its headline metrics, the models side by side, the
plots as inline images."""

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from dagster import MetadataValue

from ml_assets.lib.problems import Problem, ProblemKind

# Headline metrics of the challenger shown on the asset, in this order.
HEADLINE_METRICS = {
    ProblemKind.BINARY: ("roc_auc", "pr_auc", "log_loss", "brier", "f1"),
    ProblemKind.MULTICLASS: ("roc_auc_ovr", "accuracy", "macro_f1", "weighted_f1", "log_loss"),
    ProblemKind.REGRESSION: ("rmse", "mae", "r2", "mape"),
}


class HoldoutMetrics(NamedTuple):
    """The metric table (a row per model, the challenger first), and the challenger's
    confusion matrix (classification) and metrics per slice."""

    table: pd.DataFrame
    confusion: dict[str, Any]
    slices: pd.DataFrame


def plots_markdown(
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    confusion: dict[str, int],
    confusion_title: str,
    out: Path,
) -> str:
    """ROC, precision-recall, calibration and confusion-matrix PNGs written into `out`,
    returned as Markdown with the images inline."""
    from ml_assets.lib import metrics, plots

    images = {
        "ROC": plots.plot_roc(
            {n: metrics.roc_points(y, p) for n, p in scores.items()}, out / "roc.png"
        ),
        "Precision-recall": plots.plot_pr(
            {n: metrics.pr_points(y, p) for n, p in scores.items()}, out / "pr.png"
        ),
        "Calibration": plots.plot_calibration(
            {n: metrics.calibration_table(y, p) for n, p in scores.items()},
            out / "calibration.png",
        ),
        "Confusion matrix": plots.plot_confusion(confusion, out / "confusion.png", confusion_title),
    }
    return "\n\n".join(plots.markdown_image(path, name) for name, path in images.items())


def plots_markdown_images(images: dict[str, Path]) -> list[str]:
    from ml_assets.lib import plots

    return [plots.markdown_image(path, name) for name, path in images.items()]


def evaluation_metadata(
    problem: Problem, results: HoldoutMetrics, rows: int, pictures: str, run_id: str
) -> dict[str, Any]:
    """The asset's metadata: the challenger's headline metrics, the models side by side,
    the confusion matrix, the plots and the slices."""
    table, confusion, slices = results
    challenger_name = str(table.index[0])
    main = table.loc[challenger_name]
    return {
        **{name: _number(main[name]) for name in HEADLINE_METRICS[problem.kind]},
        "holdout_rows": rows,
        "metrics": MetadataValue.md(_comparison_markdown(table, challenger_name)),
        "confusion_matrix": MetadataValue.json(confusion),
        "plots": MetadataValue.md(pictures),
        "slices": MetadataValue.md(slices.head(40).to_markdown(index=False, floatfmt=".4f")),
        "mlflow_run_id": run_id,
    }


def _comparison_markdown(table: pd.DataFrame, challenger_name: str) -> str:
    """The models side by side, one short-named column each and a metric per row, so that
    the table fits the UI's metadata value column (a row per model overflows it)."""
    shown = table.drop(columns="n", errors="ignore").T
    shown.columns = [str(name).split()[0] for name in shown.columns]
    legend = {
        "challenger": challenger_name.removeprefix("challenger ").strip("()"),
        "logistic": "the tuned logistic-regression candidate",
        "ridge": "the tuned ridge candidate",
        "majority": "always the training window's majority class (or class shares)",
        "mean": "always the training window's mean",
    }
    notes = "; ".join(f"{name}: {legend[name]}" for name in shown.columns if name in legend)
    return f"{shown.to_markdown(floatfmt='.4f')}\n\n{notes}"


def _number(value: Any) -> float:
    """A headline metric for the UI, rounded to 4 decimals (the asset's table and MLflow keep
    the exact values); NaN when the metric is undefined (e.g. a single-class window)."""
    return round(float(value), 4) if value is not None and not pd.isna(value) else float("nan")

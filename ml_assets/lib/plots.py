"""PNG charts of evaluation and monitoring results, and their Markdown embedding.

Each function writes one PNG and returns its path. matplotlib is imported inside the
functions (it is slow to import and only evaluation and monitoring need it), always with
the non-interactive Agg backend, and every figure is closed after saving so that a
long-running code server does not accumulate them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DPI = 100
MAX_TICK_LABELS = 10


def plot_roc(curves: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """ROC curves of several models on one chart; the legend gives each model's AUC.

    `curves` maps a model name to a frame with columns fpr and tpr (see
    `metrics.roc_points`). The AUC is the trapezoidal area under the plotted points. An
    empty frame (single-class data) is listed in the legend as undefined.
    """
    with _figure(path) as ax:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC 0.500)")
        for name, curve in curves.items():
            if curve.empty:
                ax.plot([], [], label=f"{name} (AUC undefined: one class)")
                continue
            auc = float(np.trapezoid(curve["tpr"], curve["fpr"]))
            ax.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {auc:.3f})")
        _square_unit_axes(ax)
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
        ax.legend(loc="lower right")
    return Path(path)


def plot_pr(curves: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Precision-recall curves of several models; the legend gives each average precision.

    `curves` maps a model name to a frame with columns recall and precision (see
    `metrics.pr_points`). The average precision is computed from the plotted points.
    """
    with _figure(path) as ax:
        for name, curve in curves.items():
            if curve.empty:
                ax.plot([], [], label=f"{name} (AP undefined: one class)")
                continue
            ordered = curve.sort_values("recall", kind="stable")
            recall = ordered["recall"].to_numpy()
            precision = ordered["precision"].to_numpy()
            average_precision = float(np.sum(np.diff(recall) * precision[1:]))
            ax.plot(recall, precision, label=f"{name} (AP {average_precision:.3f})")
        _square_unit_axes(ax)
        ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
        ax.legend(loc="lower left")
    return Path(path)


def plot_calibration(tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Reliability diagram of several models; the legend gives each expected calibration
    error. `tables` maps a model name to a `metrics.calibration_table` frame."""
    with _figure(path) as ax:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
        for name, table in tables.items():
            if table.empty:
                continue
            gaps = (table["observed_rate"] - table["mean_predicted"]).abs()
            ece = float((gaps * table["count"]).sum() / table["count"].sum())
            ax.plot(
                table["mean_predicted"],
                table["observed_rate"],
                marker="o",
                label=f"{name} (ECE {ece:.3f})",
            )
        _square_unit_axes(ax)
        ax.set(
            xlabel="Mean predicted probability",
            ylabel="Observed positive rate",
            title="Calibration",
        )
        ax.legend(loc="upper left")
    return Path(path)


def plot_confusion(conf: Mapping[str, int], path: str | Path, title: str) -> Path:
    """2x2 confusion matrix (keys tn, fp, fn, tp) with counts and shares of all rows."""
    missing = {"tn", "fp", "fn", "tp"} - set(conf)
    if missing:
        raise ValueError(f"confusion counts lack {sorted(missing)}")
    grid = np.array([[conf["tn"], conf["fp"]], [conf["fn"], conf["tp"]]])
    total = max(int(grid.sum()), 1)
    with _figure(path, size=(5, 4.5)) as ax:
        image = ax.imshow(grid, cmap="Blues", vmin=0)
        for (row, col), count in np.ndenumerate(grid):
            dark = count > grid.max() / 2
            ax.text(
                col,
                row,
                f"{count:,}\n{count / total:.1%}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=12,
            )
        ax.set_xticks([0, 1], ["0 (negative)", "1 (positive)"])
        ax.set_yticks([0, 1], ["0 (negative)", "1 (positive)"])
        ax.set(xlabel="Predicted", ylabel="Actual", title=title)
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return Path(path)


def plot_series(
    values: pd.Series,
    path: str | Path,
    title: str,
    ylabel: str,
    threshold: float | None = None,
) -> Path:
    """One value per index label (e.g. drift share per day), with an optional threshold line.

    The index may hold dates, timestamps or strings; at most ten labels are written on the
    x axis so that a year of days stays readable. Raises ValueError on an empty series.
    """
    if values.empty:
        raise ValueError(f"no values to plot for {title!r}")
    positions = np.arange(len(values))
    with _figure(path, size=(8, 4)) as ax:
        ax.plot(positions, values.to_numpy(dtype=float), marker="o", markersize=3, label=ylabel)
        if threshold is not None:
            ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
        ticks = np.unique(np.linspace(0, len(values) - 1, MAX_TICK_LABELS).round().astype(int))
        ax.set_xticks(ticks, [_tick_label(values.index[i]) for i in ticks], rotation=30, ha="right")
        ax.set(title=title, ylabel=ylabel, xlabel=str(values.index.name or ""))
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    return Path(path)


def plot_threshold_curve(
    curve: pd.DataFrame, chosen: float, objective: str, path: str | Path
) -> Path:
    """The objective over thresholds on validation, and the threshold chosen from it."""
    with _figure(path, size=(6, 4)) as ax:
        ax.plot(curve["threshold"], curve["objective"], label=objective)
        ax.axvline(chosen, color="tab:red", linestyle="--", label=f"chosen {chosen:.3f}")
        ax.set(xlabel="Threshold", ylabel=objective, title="Decision threshold on validation")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    return Path(path)


def markdown_image(path: Path, alt: str) -> str:
    """The PNG at `path` as a Markdown image with a base64 data URI, shown inline by the
    Dagster UI in Markdown metadata without serving the file."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    safe_alt = alt.replace("[", "(").replace("]", ")")
    return f"![{safe_alt}](data:image/png;base64,{encoded})"


@contextmanager
def _figure(path: str | Path, size: tuple[float, float] = (6, 5)) -> Iterator[Axes]:
    """Axes of a new figure, saved as a PNG at `path` on success and closed either way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=size)
    try:
        yield ax
        figure.tight_layout()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, dpi=DPI, format="png", bbox_inches="tight")
    finally:
        plt.close(figure)


def _square_unit_axes(ax: Axes) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)


def _tick_label(value: Any) -> str:
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.strftime("%Y-%m-%d")
    return str(value)

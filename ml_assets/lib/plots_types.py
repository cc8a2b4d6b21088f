"""Evaluation pictures of the multiclass and regression problem types."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .plots import _figure

MAX_SCATTER_POINTS = 5000


def plot_class_confusion(
    truth: np.ndarray, predicted: np.ndarray, classes: Sequence[str], path: str | Path
) -> Path:
    """K x K confusion matrix with class names; shading is the share of each actual class
    (a row), so a rare class's errors show as clearly as a common one's."""
    k = len(classes)
    grid = np.zeros((k, k), dtype=int)
    np.add.at(grid, (np.asarray(truth, dtype=int), np.asarray(predicted, dtype=int)), 1)
    shares = grid / np.maximum(grid.sum(axis=1, keepdims=True), 1)
    side = max(4.5, 0.7 * k + 2)
    with _figure(path, size=(side + 1, side)) as ax:
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (row, col), count in np.ndenumerate(grid):
            dark = shares[row, col] > 0.5
            ax.text(col, row, f"{count:,}", ha="center", va="center",
                    color="white" if dark else "black", fontsize=10)  # fmt: skip
        ax.set_xticks(range(k), list(classes), rotation=45, ha="right")
        ax.set_yticks(range(k), list(classes))
        ax.set(xlabel="Predicted", ylabel="Actual", title="Confusion (shade: share of actual)")
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return Path(path)


def _sampled(truth: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(truth, dtype="float64"), np.asarray(predictions, dtype="float64")
    if len(y) > MAX_SCATTER_POINTS:
        rows = np.random.default_rng(0).choice(len(y), MAX_SCATTER_POINTS, replace=False)
        y, p = y[rows], p[rows]
    return y, p


def plot_predicted_vs_actual(truth: np.ndarray, predictions: np.ndarray, path: str | Path) -> Path:
    """Each row's prediction against its actual value, with the diagonal of perfect ones."""
    y, p = _sampled(truth, predictions)
    with _figure(path) as ax:
        ax.scatter(y, p, s=6, alpha=0.4)
        if len(y):
            low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
            ax.plot([low, high], [low, high], color="black", linewidth=1, label="perfect")
            ax.legend(loc="upper left")
        ax.set(xlabel="Actual", ylabel="Predicted", title="Predicted vs actual (test)")
        ax.grid(alpha=0.3)
    return Path(path)


def plot_residuals(truth: np.ndarray, predictions: np.ndarray, path: str | Path) -> Path:
    """Residual (actual - predicted) against the prediction: a trend or a funnel shows
    what the model misses."""
    y, p = _sampled(truth, predictions)
    with _figure(path) as ax:
        ax.scatter(p, y - p, s=6, alpha=0.4)
        ax.axhline(0, color="black", linewidth=1)
        ax.set(xlabel="Predicted", ylabel="Actual - predicted", title="Residuals (test)")
        ax.grid(alpha=0.3)
    return Path(path)

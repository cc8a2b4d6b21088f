"""Evaluation metrics for binary classifiers: scores, curves, calibration and slices.

Every function takes labels in {0, 1} and probabilities of the positive class, validates
them loudly (length mismatch, missing values, probabilities outside [0, 1]) and never
returns NaN: a metric that is undefined for the data (AUC on a single class) is `None`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

MAX_CURVE_POINTS = 200
LOG_LOSS_EPS = 1e-15

Metrics = dict[str, float | None]
_SLICE_METRICS = ("positive_rate", "roc_auc", "accuracy", "precision", "recall")


def binary_metrics(y_true: npt.ArrayLike, proba: npt.ArrayLike, threshold: float = 0.5) -> Metrics:
    """Threshold and ranking metrics of one set of predictions.

    Keys: accuracy, precision, recall, f1, roc_auc, pr_auc (average precision), log_loss,
    brier, positive_rate, predicted_positive_rate and n (an int). A row is predicted
    positive when `proba >= threshold`. Precision, recall and f1 are 0.0 when their
    denominator is zero. roc_auc and pr_auc need both classes in `y_true`: on single-class
    data they are `None`, never NaN. Raises ValueError when there are no rows.
    """
    y, p = _validated(y_true, proba)
    y_pred = (p >= threshold).astype(int)
    counts = confusion(y, y_pred)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    clipped = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    log_loss = -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    both_classes = _has_both_classes(y)
    return {
        "accuracy": float(np.mean(y == y_pred)),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else None,
        "log_loss": float(log_loss),
        "brier": float(np.mean((p - y) ** 2)),
        "positive_rate": float(np.mean(y)),
        "predicted_positive_rate": float(np.mean(y_pred)),
        "n": len(y),
    }


def confusion(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, int]:
    """Counts tn, fp, fn and tp, always over labels [0, 1] so one-class input works."""
    y = _labels(y_true, "y_true")
    pred = _labels(y_pred, "y_pred")
    _same_length(y, pred, "y_pred")
    tn, fp, fn, tp = np.bincount(2 * y + pred, minlength=4)
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def roc_points(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, max_points: int = MAX_CURVE_POINTS
) -> pd.DataFrame:
    """ROC curve as columns fpr, tpr, threshold, at most `max_points` rows.

    The first point's infinite threshold (nothing predicted positive) is reported as 1.0
    so the frame can go into JSON metadata. Single-class data has no curve: the frame is
    empty.
    """
    y, p = _validated(y_true, proba)
    if not _has_both_classes(y):
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []}, dtype=float)
    fpr, tpr, thresholds = roc_curve(y, p)
    frame = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)})
    return _downsample(frame, max_points)


def pr_points(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, max_points: int = MAX_CURVE_POINTS
) -> pd.DataFrame:
    """Precision-recall curve as columns recall, precision (recall decreasing), at most
    `max_points` rows. Single-class data has no curve: the frame is empty."""
    y, p = _validated(y_true, proba)
    if not _has_both_classes(y):
        return pd.DataFrame({"recall": [], "precision": []}, dtype=float)
    precision, recall, _ = precision_recall_curve(y, p, drop_intermediate=True)
    frame = pd.DataFrame({"recall": recall, "precision": precision})
    return _downsample(frame, max_points)


def calibration_table(y_true: npt.ArrayLike, proba: npt.ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Reliability table over `bins` uniform bins of [0, 1]; empty bins are omitted.

    Columns: bin_lower, bin_upper, mean_predicted, observed_rate, count. The last bin is
    closed, so a probability of exactly 1.0 lands in it.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    y, p = _validated(y_true, proba)
    index = np.minimum((p * bins).astype(int), bins - 1)
    grouped = (
        pd.DataFrame({"bin": index, "y": y, "p": p})
        .groupby("bin")
        .agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size"))
        .reset_index()
    )
    grouped.insert(0, "bin_lower", grouped["bin"] / bins)
    grouped.insert(1, "bin_upper", (grouped["bin"] + 1) / bins)
    grouped["count"] = grouped["count"].astype(int)
    return grouped.drop(columns="bin")


def expected_calibration_error(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, bins: int = 10
) -> float:
    """Count-weighted mean gap between predicted and observed rates over uniform bins."""
    table = calibration_table(y_true, proba, bins)
    gaps = (table["observed_rate"] - table["mean_predicted"]).abs()
    return float((gaps * table["count"]).sum() / table["count"].sum())


def slice_metrics(
    frame: pd.DataFrame,
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    slice_columns: Sequence[str],
    threshold: float = 0.5,
    min_count: int = 1,
) -> pd.DataFrame:
    """Metrics per value of each slice column, for finding where a model is weak.

    `y_true` and `proba` are aligned with the rows of `frame`. One row per (slice column,
    value) with at least `min_count` rows; missing values form their own slice with value
    `None`. Columns: slice, value, count, positive_rate, roc_auc, accuracy, precision,
    recall. roc_auc is `None` (object column, never NaN) where a slice holds one class.
    Sorted by slice, then count descending.
    """
    y, p = _validated(y_true, proba)
    if len(frame) != len(y):
        raise ValueError(f"frame has {len(frame)} rows but y_true has {len(y)}")
    missing = [column for column in slice_columns if column not in frame.columns]
    if missing:
        raise ValueError(f"slice columns not in frame: {missing}")
    rows: list[dict[str, object]] = []
    for column in slice_columns:
        keys = frame[column].reset_index(drop=True)
        for value, positions in keys.groupby(keys, dropna=False, sort=False).indices.items():
            if len(positions) < min_count:
                continue
            metrics = binary_metrics(y[positions], p[positions], threshold)
            rows.append(
                {
                    "slice": column,
                    "value": _plain(value),
                    "count": len(positions),
                    **{key: metrics[key] for key in _SLICE_METRICS},
                }
            )
    columns = ["slice", "value", "count", *_SLICE_METRICS]
    table = pd.DataFrame(rows, columns=columns).astype({"value": object})
    # A float column would turn None into NaN; keep the undefined AUCs as None.
    auc = [None if pd.isna(v) else float(v) for v in table["roc_auc"]]
    table["roc_auc"] = pd.Series(auc, index=table.index, dtype=object)
    table = table.sort_values(["slice", "count"], ascending=[True, False], kind="stable")
    return table.reset_index(drop=True)


def majority_baseline(y_train: npt.ArrayLike, n: int) -> np.ndarray:
    """Constant probability = the training positive rate, for `n` rows.

    It ranks nothing (AUC 0.5) but its log loss and Brier score are the bar a real model
    has to clear.
    """
    y = _labels(y_train, "y_train")
    if len(y) == 0:
        raise ValueError("y_train is empty: no positive rate to predict")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return np.full(n, float(np.mean(y)))


def _validated(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y_true, "y_true")
    p = _probabilities(proba)
    _same_length(y, p, "proba")
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    return y, p


def _labels(values: npt.ArrayLike, name: str) -> np.ndarray:
    array = pd.Series(np.asarray(values).ravel())
    if array.isna().any():
        raise ValueError(f"{name} has {int(array.isna().sum())} missing labels")
    if not array.isin([0, 1]).all():
        bad = sorted(set(array[~array.isin([0, 1])].tolist()), key=str)[:5]
        raise ValueError(f"{name} must hold only 0 and 1, found {bad}")
    return array.to_numpy(dtype=int)


def _probabilities(values: npt.ArrayLike) -> np.ndarray:
    p = pd.Series(np.asarray(values).ravel()).to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(p).any():
        raise ValueError(f"proba has {int(np.isnan(p).sum())} missing values")
    if len(p) and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"proba must lie in [0, 1], found range [{p.min()}, {p.max()}]")
    return p


def _same_length(y: np.ndarray, other: np.ndarray, name: str) -> None:
    if len(y) != len(other):
        raise ValueError(f"y_true has {len(y)} rows but {name} has {len(other)}")


def _plain(value: object) -> object:
    """A slice value as a plain Python object (None for missing) for JSON metadata."""
    if pd.isna(value):  # type: ignore[call-overload]
        return None
    return value.item() if isinstance(value, np.generic) else value


def _has_both_classes(y: np.ndarray) -> bool:
    return bool(y.min() != y.max())


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def _downsample(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Evenly spaced rows, always keeping the first and the last point of the curve."""
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, max_points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)

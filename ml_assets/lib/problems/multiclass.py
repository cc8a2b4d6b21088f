"""Multiclass classification: the probability of every class, argmax serving, and the
macro one-vs-rest ROC AUC as the primary metric."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .base import Calibration, Metrics, PairedComparison, PrimaryMetric, Problem, ProblemKind
from .bootstrap import paired_bootstrap

_EPS = 1e-15


class MulticlassProblem(Problem):
    kind = ProblemKind.MULTICLASS
    primary = PrimaryMetric("roc_auc_ovr", greater_is_better=True)
    drift_column = "label"
    drift_kind = "categorical"

    def __init__(self, classes: tuple[str, ...]) -> None:
        if len(classes) < 2:
            raise ValueError(f"a multiclass target needs at least 2 classes, got {classes}")
        self.classes = tuple(classes)
        self._codes = {name: i for i, name in enumerate(self.classes)}

    def target(self, labels: pd.Series) -> np.ndarray:
        return self.truth(labels)

    def truth(self, labels: pd.Series) -> np.ndarray:
        text = labels.astype("string")
        codes = text.map(self._codes)
        unknown = codes.isna()
        if unknown.any():
            seen = sorted(set(text[unknown].dropna().astype(str)))[:5]
            raise ValueError(
                f"{int(unknown.sum())} rows of {labels.name!r} have no class of "
                f"{list(self.classes)} (missing or {seen})"
            )
        return codes.astype("int64").to_numpy()

    def predict(self, model: Any, matrix: pd.DataFrame) -> np.ndarray:
        """Probabilities in `classes` order; a class the model never saw in training gets 0."""
        proba = np.asarray(model.predict_proba(matrix), dtype="float64")
        seen = [int(c) for c in getattr(model, "classes_", range(proba.shape[1]))]
        out = np.zeros((len(proba), len(self.classes)))
        out[:, seen] = proba
        return out

    def from_booster(self, raw: np.ndarray) -> np.ndarray:
        values = np.asarray(raw, dtype="float64")
        return values.reshape(len(values), -1)

    def score(self, truth: np.ndarray, predictions: np.ndarray) -> float | None:
        """Macro one-vs-rest ROC AUC over the classes present in `truth` (a class absent
        from the rows has no positives to rank); None with fewer than two present."""
        return ovr_auc(np.asarray(truth), np.asarray(predictions))

    def metrics(
        self, truth: np.ndarray, predictions: np.ndarray, calibration: Calibration
    ) -> Metrics:
        """Accuracy, macro and weighted F1, log loss, one-vs-rest ROC AUC, and per class
        precision, recall and support (`precision[<class>]`, ...)."""
        from sklearn.metrics import f1_score, precision_recall_fscore_support

        y, p = np.asarray(truth), np.asarray(predictions)
        if len(y) == 0:
            raise ValueError("no rows to score")
        labels = list(range(len(self.classes)))
        predicted = p.argmax(axis=1)
        picked = np.clip(p[np.arange(len(y)), y], _EPS, 1.0)
        precision, recall, _, support = precision_recall_fscore_support(
            y, predicted, labels=labels, zero_division=0
        )
        result: Metrics = {
            "accuracy": float(np.mean(predicted == y)),
            "macro_f1": float(
                f1_score(y, predicted, labels=labels, average="macro", zero_division=0)
            ),
            "weighted_f1": float(
                f1_score(y, predicted, labels=labels, average="weighted", zero_division=0)
            ),
            "log_loss": float(-np.mean(np.log(picked))),
            "roc_auc_ovr": self.score(y, p),
            "n": len(y),
        }
        for i, name in enumerate(self.classes):
            result[f"precision[{name}]"] = float(precision[i])
            result[f"recall[{name}]"] = float(recall[i])
            result[f"support[{name}]"] = int(support[i])
        return result

    def calibrate(
        self, truth: np.ndarray, predictions: np.ndarray, settings: Mapping[str, Any]
    ) -> Calibration:
        return Calibration(reason="argmax: the most probable class")

    def outputs(self, predictions: np.ndarray, calibration: Calibration) -> dict[str, Any]:
        p = np.asarray(predictions, dtype="float64")
        chosen = p.argmax(axis=1) if len(p) else np.empty(0, dtype="int64")
        names = np.asarray(self.classes, dtype=object)
        columns: dict[str, Any] = {
            "label": names[chosen],
            "probability": p[np.arange(len(p)), chosen] if len(p) else np.empty(0),
        }
        for i, name in enumerate(self.classes):
            columns[f"probability[{name}]"] = p[:, i] if len(p) else np.empty(0)
        return columns

    def predictions_of(self, scored: pd.DataFrame) -> np.ndarray:
        columns = [f"probability[{name}]" for name in self.classes]
        return scored[columns].astype("float64").to_numpy()

    def baseline(self, train_truth: np.ndarray, n: int) -> np.ndarray:
        """The training class shares for every row."""
        counts = np.bincount(np.asarray(train_truth), minlength=len(self.classes))
        shares = counts / max(counts.sum(), 1)
        return np.tile(shares, (n, 1))

    def compare(
        self,
        truth: np.ndarray,
        challenger: np.ndarray,
        champion: np.ndarray,
        *,
        resamples: int,
        seed: int,
        alpha: float,
    ) -> PairedComparison:
        return paired_bootstrap(
            self.primary, ovr_auc, (truth, challenger, champion), resamples, seed, alpha
        )

    def plots(
        self,
        truth: np.ndarray,
        predictions: np.ndarray,
        calibration: Calibration,
        folder: Path,
    ) -> dict[str, Path]:
        """The confusion matrix with class names."""
        from ml_assets.lib.plots_types import plot_class_confusion

        predicted = np.asarray(predictions).argmax(axis=1)
        path = plot_class_confusion(truth, predicted, self.classes, folder / "confusion.png")
        return {"Confusion matrix": path}


def ovr_auc(truth: np.ndarray, predictions: np.ndarray) -> float | None:
    """Macro average of one-vs-rest ROC AUC (Mann-Whitney, ties count one half) over the
    classes present in `truth` with at least one other class present."""
    from scipy.stats import rankdata

    present = np.unique(truth)
    if len(present) < 2:
        return None
    scores = []
    for k in present:
        positive = truth == k
        ranks = rankdata(predictions[:, k])
        n_pos = int(positive.sum())
        n_neg = len(truth) - n_pos
        u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
        scores.append(u / (n_pos * n_neg))
    return float(np.mean(scores))

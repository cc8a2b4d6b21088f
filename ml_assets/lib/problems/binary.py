"""Binary classification: P(positive) per row, a threshold chosen on validation, ROC AUC."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .base import Calibration, Metrics, PairedComparison, PrimaryMetric, Problem, ProblemKind


class BinaryProblem(Problem):
    kind = ProblemKind.BINARY
    primary = PrimaryMetric("roc_auc", greater_is_better=True)
    classes = ("0", "1")
    drift_column = "probability"
    drift_kind = "numeric"

    def target(self, labels: pd.Series) -> np.ndarray:
        return self.truth(labels)

    def truth(self, labels: pd.Series) -> np.ndarray:
        if labels.isna().any():
            raise ValueError(f"{int(labels.isna().sum())} rows have no label {labels.name!r}")
        return labels.astype(bool).astype("int64").to_numpy()

    def predict(self, model: Any, matrix: pd.DataFrame) -> np.ndarray:
        proba = np.asarray(model.predict_proba(matrix), dtype="float64")
        classes = list(getattr(model, "classes_", [0, 1]))
        return proba[:, classes.index(1)]

    def from_booster(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, dtype="float64")

    def score(self, truth: np.ndarray, predictions: np.ndarray) -> float | None:
        from sklearn.metrics import roc_auc_score

        if len(np.unique(truth)) < 2:
            return None
        return float(roc_auc_score(truth, predictions))

    def metrics(
        self, truth: np.ndarray, predictions: np.ndarray, calibration: Calibration
    ) -> Metrics:
        from ml_assets.lib.metrics import binary_metrics

        threshold = 0.5 if calibration.threshold is None else calibration.threshold
        return dict(binary_metrics(truth, predictions, threshold))

    def calibrate(
        self, truth: np.ndarray, predictions: np.ndarray, settings: Mapping[str, Any]
    ) -> Calibration:
        """The configured `threshold`, or the one that serves `threshold_objective` best."""
        from ml_assets.lib.thresholds import choose_threshold

        chosen = choose_threshold(
            truth,
            predictions,
            settings.get("threshold_objective", "f1"),
            settings.get("false_positive_cost", 1.0),
            settings.get("false_negative_cost", 1.0),
        )
        fixed = settings.get("threshold")
        if fixed is None:
            return Calibration(threshold=chosen.threshold, reason=chosen.reason, curve=chosen.curve)
        reason = f"configured: promotion.threshold = {fixed}"
        return Calibration(threshold=float(fixed), reason=reason, curve=chosen.curve)

    def outputs(self, predictions: np.ndarray, calibration: Calibration) -> dict[str, Any]:
        threshold = 0.5 if calibration.threshold is None else calibration.threshold
        return {"probability": predictions, "label": predictions >= threshold}

    def plots(
        self,
        truth: np.ndarray,
        predictions: np.ndarray,
        calibration: Calibration,
        folder: Path,
    ) -> dict[str, Path]:
        """ROC, precision-recall and calibration curves and the confusion matrix."""
        from ml_assets.lib import metrics, plots

        threshold = 0.5 if calibration.threshold is None else calibration.threshold
        labels = (predictions >= threshold).astype(int)
        return {
            "ROC": plots.plot_roc(
                {"model": metrics.roc_points(truth, predictions)}, folder / "roc.png"
            ),
            "Precision-recall": plots.plot_pr(
                {"model": metrics.pr_points(truth, predictions)}, folder / "pr.png"
            ),
            "Calibration": plots.plot_calibration(
                {"model": metrics.calibration_table(truth, predictions)}, folder / "calibration.png"
            ),
            "Confusion matrix": plots.plot_confusion(
                metrics.confusion(truth, labels), folder / "confusion.png", f"at {threshold:.3f}"
            ),
        }

    def predictions_of(self, scored: pd.DataFrame) -> np.ndarray:
        return scored["probability"].astype("float64").to_numpy()

    def baseline(self, train_truth: np.ndarray, n: int) -> np.ndarray:
        from ml_assets.lib.metrics import majority_baseline

        return majority_baseline(train_truth, n)

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
        from ml_assets.lib.significance import paired_bootstrap_auc

        result = paired_bootstrap_auc(truth, challenger, champion, resamples, seed, alpha)
        return PairedComparison(
            metric=self.primary.name,
            challenger=result.auc_challenger,
            champion=result.auc_champion,
            gain=result.difference,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            p_value=result.p_value,
            method="bootstrap",
            resamples=result.valid_resamples,
        )

"""Regression: a value per row on the target's own scale (a `log1p` target is fitted on
log1p and predicted back with expm1), RMSE as the primary metric, and a split-conformal
interval chosen on validation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .base import Calibration, Metrics, PairedComparison, PrimaryMetric, Problem, ProblemKind
from .bootstrap import paired_bootstrap

# Rows whose |truth| is below this are left out of MAPE (a percentage of ~0 is no number).
MAPE_FLOOR = 1e-8


class RegressionProblem(Problem):
    kind = ProblemKind.REGRESSION
    primary = PrimaryMetric("rmse", greater_is_better=False)
    drift_column = "prediction"
    drift_kind = "numeric"

    def __init__(self, transform: str = "none", interval_level: float = 0.9) -> None:
        if transform not in ("none", "log1p"):
            raise ValueError(f"unknown target transform {transform!r}")
        self.transform = transform
        self.interval_level = interval_level

    def target(self, labels: pd.Series) -> np.ndarray:
        values = self.truth(labels)
        if self.transform == "log1p":
            below = int((values <= -1).sum())
            if below:
                raise ValueError(f"{below} rows of {labels.name!r} are <= -1: log1p undefined")
            return np.log1p(values)
        return values

    def truth(self, labels: pd.Series) -> np.ndarray:
        values = pd.to_numeric(labels, errors="coerce").astype("float64")
        missing = int(values.isna().sum())
        if missing:
            raise ValueError(f"{missing} rows have no numeric target {labels.name!r}")
        return values.to_numpy()

    def _inverse(self, fitted: np.ndarray) -> np.ndarray:
        fitted = np.asarray(fitted, dtype="float64")
        return np.expm1(fitted) if self.transform == "log1p" else fitted

    def _fitted(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype="float64")
        return np.log1p(np.maximum(values, -1 + 1e-12)) if self.transform == "log1p" else values

    def predict(self, model: Any, matrix: pd.DataFrame) -> np.ndarray:
        return self._inverse(model.predict(matrix))

    def from_booster(self, raw: np.ndarray) -> np.ndarray:
        return self._inverse(np.ravel(raw))

    def score(self, truth: np.ndarray, predictions: np.ndarray) -> float | None:
        if len(truth) == 0:
            return None
        return float(np.sqrt(np.mean((np.asarray(predictions) - np.asarray(truth)) ** 2)))

    def metrics(
        self, truth: np.ndarray, predictions: np.ndarray, calibration: Calibration
    ) -> Metrics:
        """RMSE, MAE, R2 (None for a constant truth or a single row), MAPE over the rows
        whose truth is not ~0 (None if none is left), the mean prediction and, with an
        interval, the share of rows inside it."""
        y, p = np.asarray(truth, dtype="float64"), np.asarray(predictions, dtype="float64")
        if len(y) == 0:
            raise ValueError("no rows to score")
        error = p - y
        spread = float(np.sum((y - y.mean()) ** 2))
        usable = np.abs(y) > MAPE_FLOOR
        result: Metrics = {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
            "r2": 1 - float(np.sum(error**2)) / spread if len(y) > 1 and spread > 0 else None,
            "mape": float(np.mean(np.abs(error[usable] / y[usable]))) if usable.any() else None,
            "mean_prediction": float(p.mean()),
            "n": len(y),
        }
        if calibration.interval_halfwidth is not None:
            outputs = self.outputs(p, calibration)
            inside = (outputs["lower"] <= y) & (y <= outputs["upper"])
            result["interval_coverage"] = float(np.mean(inside))
        return result

    def calibrate(
        self, truth: np.ndarray, predictions: np.ndarray, settings: Mapping[str, Any]
    ) -> Calibration:
        """Split conformal: the half-width is the ceil((n+1) level)/n quantile of the
        absolute validation residuals on the fitted scale, so that about `level` of new
        rows fall inside (exchangeable rows assumed; drift breaks it, monitoring shows it)."""
        residuals = np.abs(self._fitted(predictions) - self._fitted(truth))
        n = len(residuals)
        if n == 0:
            return Calibration(reason="no validation rows: no interval")
        rank = min(1.0, math.ceil((n + 1) * self.interval_level) / n)
        halfwidth = float(np.quantile(residuals, rank, method="higher"))
        scale = " on the log1p scale" if self.transform == "log1p" else ""
        reason = (
            f"split conformal {self.interval_level:.0%} interval: +-{halfwidth:.4g}{scale}, the "
            f"{rank:.3f} quantile of {n:,} absolute validation residuals"
        )
        return Calibration(
            interval_halfwidth=halfwidth, interval_level=self.interval_level, reason=reason
        )

    def outputs(self, predictions: np.ndarray, calibration: Calibration) -> dict[str, Any]:
        p = np.asarray(predictions, dtype="float64")
        half = calibration.interval_halfwidth
        if half is None:
            empty = np.full(len(p), np.nan)
            return {"prediction": p, "lower": empty, "upper": empty.copy()}
        fitted = self._fitted(p)
        return {
            "prediction": p,
            "lower": self._inverse(fitted - half),
            "upper": self._inverse(fitted + half),
        }

    def predictions_of(self, scored: pd.DataFrame) -> np.ndarray:
        return scored["prediction"].astype("float64").to_numpy()

    def baseline(self, train_truth: np.ndarray, n: int) -> np.ndarray:
        """The training mean for every row."""
        return np.full(n, float(np.mean(train_truth)))

    def median_baseline(self, train_truth: np.ndarray, n: int) -> np.ndarray:
        """The training median for every row (robust to outliers)."""
        return np.full(n, float(np.median(train_truth)))

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
            self.primary, self.score, (truth, challenger, champion), resamples, seed, alpha
        )

    def plots(
        self,
        truth: np.ndarray,
        predictions: np.ndarray,
        calibration: Calibration,
        folder: Path,
    ) -> dict[str, Path]:
        """Predicted against actual, and the residuals against the prediction."""
        from ml_assets.lib.plots_types import plot_predicted_vs_actual, plot_residuals

        return {
            "Predicted vs actual": plot_predicted_vs_actual(
                truth, predictions, folder / "predicted_vs_actual.png"
            ),
            "Residuals": plot_residuals(truth, predictions, folder / "residuals.png"),
        }

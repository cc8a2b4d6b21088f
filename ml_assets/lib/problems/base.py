"""What a problem type brings, behind one interface: how labels become training targets,
how a model's output becomes predictions, the metrics, the paired test of the champion
decision, what is served and what monitoring compares.

Predictions travel through the platform in one array shape per type, always on the
target's own scale: binary - P(positive) of shape (n,); multiclass - the probability of
every class, shape (n, K), in `classes` order; regression - the predicted value, shape (n,).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Metrics = dict[str, float | int | None]
_TITLES = {"roc_auc": "ROC AUC", "roc_auc_ovr": "one-vs-rest ROC AUC", "rmse": "RMSE"}


class ProblemKind(StrEnum):
    BINARY = "binary_classification"
    MULTICLASS = "multiclass_classification"
    REGRESSION = "regression"
    TEXT = "text_classification"


@dataclass(frozen=True)
class PrimaryMetric:
    """The one number tuning optimises, candidates are ranked by and the champion decision
    compares; `greater_is_better` orients every comparison."""

    name: str
    greater_is_better: bool

    @property
    def title(self) -> str:
        """The metric's name as people write it."""
        return _TITLES.get(self.name, self.name)

    def gain(self, new: float, old: float) -> float:
        """How much better `new` is than `old` (positive = better), whatever the direction."""
        return new - old if self.greater_is_better else old - new

    def rank_key(self, value: float | None) -> float:
        """Sort key putting the best value first (missing values last)."""
        if value is None or np.isnan(value):
            return float("inf")
        return -value if self.greater_is_better else value


@dataclass(frozen=True)
class Calibration:
    """What is chosen on validation and served with a model: a binary decision threshold,
    a regression interval half-width (on the fitted scale); `reason` says how, `curve`
    is what the choice was made on (for the UI)."""

    threshold: float | None = None
    interval_halfwidth: float | None = None
    interval_level: float | None = None
    reason: str = ""
    curve: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)

    def as_metadata(self) -> dict[str, float]:
        values = {
            "threshold": self.threshold,
            "interval_halfwidth": self.interval_halfwidth,
            "interval_level": self.interval_level,
        }
        return {k: float(v) for k, v in values.items() if v is not None}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Calibration:
        def number(key: str) -> float | None:
            value = metadata.get(key)
            return None if value is None else float(value)

        return cls(
            threshold=number("threshold"),
            interval_halfwidth=number("interval_halfwidth"),
            interval_level=number("interval_level"),
        )


@dataclass(frozen=True)
class PairedComparison:
    """Paired bootstrap of primary(challenger) - primary(champion) on the same rows, with
    the difference oriented so that positive means the challenger is better."""

    metric: str
    challenger: float
    champion: float
    gain: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    resamples: int


class Problem(ABC):
    """One problem type, configured for one pipeline's target."""

    kind: ProblemKind
    primary: PrimaryMetric
    classes: tuple[str, ...] = ()
    # The scored frame's columns that monitoring compares with the reference, and how.
    drift_column: str
    drift_kind: str  # "numeric" or "categorical"

    @abstractmethod
    def target(self, labels: pd.Series) -> np.ndarray:
        """Labels from the features frame as the estimator is fitted on them (0/1, class
        codes, or the transformed value); raises if any row has no label."""

    @abstractmethod
    def truth(self, labels: pd.Series) -> np.ndarray:
        """Labels as metrics compare them with predictions (0/1, class codes, the value on
        its own scale); raises if any row has no label."""

    @abstractmethod
    def predict(self, model: Any, matrix: pd.DataFrame) -> np.ndarray:
        """Predictions of a fitted scikit-learn style estimator, in this type's shape."""

    @abstractmethod
    def from_booster(self, raw: np.ndarray) -> np.ndarray:
        """Predictions from an XGBoost booster's `inplace_predict` output."""

    @abstractmethod
    def score(self, truth: np.ndarray, predictions: np.ndarray) -> float | None:
        """The primary metric; None where the data does not define it (one class)."""

    @abstractmethod
    def metrics(
        self, truth: np.ndarray, predictions: np.ndarray, calibration: Calibration
    ) -> Metrics:
        """Every headline metric of one set of predictions (with `n`), never NaN."""

    @abstractmethod
    def calibrate(
        self, truth: np.ndarray, predictions: np.ndarray, settings: Mapping[str, Any]
    ) -> Calibration:
        """What is chosen on validation rows and served with the model."""

    @abstractmethod
    def outputs(self, predictions: np.ndarray, calibration: Calibration) -> dict[str, Any]:
        """The scored frame's columns (what batch predictions store and the service
        answers), before `model_version`."""

    @abstractmethod
    def baseline(self, train_truth: np.ndarray, n: int) -> np.ndarray:
        """A constant prediction learnt from the training labels: the bar to beat."""

    @abstractmethod
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
        """Paired bootstrap of the primary metric's difference on the same rows."""

    @abstractmethod
    def plots(
        self,
        truth: np.ndarray,
        predictions: np.ndarray,
        calibration: Calibration,
        folder: Path,
    ) -> dict[str, Path]:
        """The evaluation's pictures of one model, as PNG files in `folder`, by title."""

    @abstractmethod
    def predictions_of(self, scored: pd.DataFrame) -> np.ndarray:
        """Predictions back from a scored frame (batch predictions), in this type's shape."""

    def labelled(self, labels: pd.Series) -> pd.Series:
        """Which rows have a label metrics can use."""
        return labels.notna()

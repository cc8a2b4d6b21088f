"""A champion's metrics on one day of labelled predictions, next to its test-window score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ml_assets.lib.config.monitoring import PerformanceConfig
from ml_assets.lib.problems import Calibration, Problem

# Metrics that get worse as they grow.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "log_loss", "brier"})

Verdict = Literal["ok", "warn", "error", "no_verdict"]


@dataclass(frozen=True)
class LivePerformance:
    rows: int
    labelled: int
    metric: str
    value: float | None
    test_value: float | None
    verdict: Verdict
    reason: str
    metrics: dict[str, float | None]

    @property
    def drop(self) -> float | None:
        """How much worse than on the test window (positive = worse), in the metric's units."""
        if self.value is None or self.test_value is None:
            return None
        worse = self.value - self.test_value
        return round(worse if self.metric in LOWER_IS_BETTER else -worse, 6)

    def as_row(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "labelled": self.labelled,
            "metric": self.metric,
            "value": self.value,
            "test_value": self.test_value,
            "drop": self.drop,
            "verdict": self.verdict,
            "reason": self.reason,
            **{f"live_{k}": v for k, v in self.metrics.items()},
        }


def evaluate(
    actual: pd.Series,
    predictions: np.ndarray,
    test_metrics: dict[str, Any],
    policy: PerformanceConfig,
    served: tuple[Problem, Calibration],
) -> LivePerformance:
    """Score one day's predictions whose labels are known; unlabelled rows are left out.

    `predictions` are in the problem type's shape; `served` is the problem and what the
    model is served with (its threshold). The compared metric is the policy's, else the
    problem's primary one; "worse" follows its direction (an RMSE that grows is a drop).
    No verdict (never NaN) when there are too few labels, a day the metric does not
    define (one class for ROC AUC, a constant target for R2) or no test-window score.
    """
    problem, calibration = served
    metric = policy.metric or problem.primary.name
    known = actual.notna().to_numpy()
    labelled = int(known.sum())
    test_value = _number(test_metrics.get(metric))

    def result(
        value: float | None, verdict: Verdict, reason: str, metrics: dict
    ) -> LivePerformance:
        return LivePerformance(
            len(actual), labelled, metric, value, test_value, verdict, reason, metrics
        )

    if labelled == 0:
        return result(None, "no_verdict", "no labelled rows yet", {})
    truth = problem.truth(actual[known])
    scored = problem.metrics(truth, np.asarray(predictions)[known], calibration)
    metrics = {k: _rounded(v) for k, v in scored.items() if k != "n" and "[" not in k}
    value = metrics.get(metric)
    if labelled < policy.min_rows:
        return result(
            value, "no_verdict", f"{labelled} labelled rows, fewer than {policy.min_rows}", metrics
        )
    if value is None:
        distinct = len(np.unique(truth))
        shape = "a single-class day" if distinct == 1 else f"{distinct} distinct labels"
        reason = f"{metric} is undefined on this day ({shape})"
        return result(None, "no_verdict", reason, metrics)
    if test_value is None:
        return result(value, "no_verdict", f"the champion has no test {metric}", metrics)
    drop = value - test_value if metric in LOWER_IS_BETTER else test_value - value
    stated = f"{metric} {value:.3f} vs {test_value:.3f} on the test window (drop {drop:+.3f})"
    if drop >= policy.drop_error:
        return result(value, "error", f"{stated}; error at {policy.drop_error}", metrics)
    if drop >= policy.drop_warn:
        return result(value, "warn", f"{stated}; warning at {policy.drop_warn}", metrics)
    return result(value, "ok", stated, metrics)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)

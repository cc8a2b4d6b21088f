"""A champion's metrics on one day of labelled predictions, next to its test-window score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ml_assets.lib.config.monitoring import PerformanceConfig

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
        if self.value is None or self.test_value is None:
            return None
        return round(self.test_value - self.value, 6)

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
    probability: pd.Series,
    test_metrics: dict[str, Any],
    policy: PerformanceConfig,
    threshold: float,
) -> LivePerformance:
    """Score one day's predictions whose labels are known; unlabelled rows are left out.

    No verdict (never NaN) when there are too few labels, a single class (ROC AUC is
    undefined) or no test-window score to compare with.
    """
    known = actual.notna().to_numpy()
    labelled = int(known.sum())
    test_value = _number(test_metrics.get(policy.metric))

    def result(
        value: float | None, verdict: Verdict, reason: str, metrics: dict
    ) -> LivePerformance:
        return LivePerformance(
            len(actual), labelled, policy.metric, value, test_value, verdict, reason, metrics
        )

    if labelled == 0:
        return result(None, "no_verdict", "no labelled rows yet", {})
    y = actual[known].astype(bool).astype(int).to_numpy()
    p = probability[known].astype("float64").to_numpy()
    from ml_assets.lib.metrics import binary_metrics  # sklearn: not at code-location load

    metrics = {k: _rounded(v) for k, v in binary_metrics(y, p, threshold).items() if k != "n"}
    value = metrics.get(policy.metric)
    if labelled < policy.min_rows:
        return result(
            value, "no_verdict", f"{labelled} labelled rows, fewer than {policy.min_rows}", metrics
        )
    if value is None:
        only = "delayed" if y.all() else "on time"
        reason = f"a single-class day (every labelled row {only}): {policy.metric} is undefined"
        return result(None, "no_verdict", reason, metrics)
    if test_value is None:
        return result(value, "no_verdict", f"the champion has no test {policy.metric}", metrics)
    drop = test_value - value
    stated = (
        f"{policy.metric} {value:.3f} vs {test_value:.3f} on the test window (drop {drop:+.3f})"
    )
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

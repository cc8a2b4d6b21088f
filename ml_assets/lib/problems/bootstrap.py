"""A paired bootstrap of any metric's difference between two models on the same rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .base import PairedComparison, PrimaryMetric

Scorer = Callable[[np.ndarray, np.ndarray], float | None]


def paired_bootstrap(
    metric: PrimaryMetric,
    score: Scorer,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    resamples: int,
    seed: int,
    alpha: float,
) -> PairedComparison:
    """Resample rows with replacement, score both models on the same rows each time; the
    gain (positive = challenger better, whatever the metric's direction) gets a percentile
    CI and a two-sided p-value. Resamples where the metric is undefined are skipped."""
    truth, challenger, champion = (np.asarray(a) for a in data)
    new, old = score(truth, challenger), score(truth, champion)
    if new is None or old is None:
        raise ValueError(f"{metric.name} is undefined on these rows: no paired comparison")
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        a, b = score(truth[rows], challenger[rows]), score(truth[rows], champion[rows])
        if a is not None and b is not None:
            gains.append(metric.gain(a, b))
    if len(gains) < resamples / 2:
        raise ValueError(f"only {len(gains)} of {resamples} resamples define {metric.name}")
    spread = np.asarray(gains)
    low, high = (float(q) for q in np.quantile(spread, [alpha / 2, 1 - alpha / 2]))
    p_value = min(1.0, 2 * float(min(np.mean(spread <= 0), np.mean(spread >= 0))))
    return PairedComparison(
        metric=metric.name,
        challenger=float(new),
        champion=float(old),
        gain=metric.gain(new, old),
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        method="bootstrap",
        resamples=len(gains),
    )

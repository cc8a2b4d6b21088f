"""Paired significance tests of two models' scores on one shared holdout.

All AUCs are the Mann-Whitney form of ROC AUC with midranks for ties, which equals
`sklearn.metrics.roc_auc_score` up to float rounding. Labels `y` are binary (0/1 or bool).
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binomtest, chi2, norm, rankdata

MIN_RESAMPLES = 100
# Exact binomial below this many discordant pairs, chi-square with continuity above.
MCNEMAR_EXACT_BELOW = 25
# Bound on counts-matrix cells per bootstrap chunk (~16 MB per int64 array).
_CHUNK_CELLS = 2_000_000

_Mask = NDArray[np.bool_]
_Floats = NDArray[np.float64]
_Counts = NDArray[np.int64]


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of AUC(challenger) - AUC(champion) with a percentile CI."""

    auc_challenger: float
    auc_champion: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    resamples: int
    valid_resamples: int


@dataclass(frozen=True)
class DeLongResult:
    """DeLong test of AUC(a) - AUC(b) on the same rows; CI from the DeLong variance."""

    auc_a: float
    auc_b: float
    difference: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class McNemarResult:
    """McNemar test on paired hard labels; `method` is "exact" or "chi2"."""

    b: int
    c: int
    statistic: float
    p_value: float
    method: str


def validate_scores(y: ArrayLike, **scores: ArrayLike) -> tuple[_Mask, list[_Floats]]:
    """Binary labels as a bool mask, and each named score array as finite float64."""
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.size == 0 or not np.isin(labels, [0, 1]).all():
        raise ValueError(f"y must be a non-empty 1-D array of binary 0/1 labels: {labels[:5]}")
    positive = labels.astype(bool)
    if positive.all() or not positive.any():
        raise ValueError(f"y has a single class ({int(positive[0])}); AUC is undefined")
    arrays = []
    for name, values in scores.items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != positive.shape:
            raise ValueError(
                f"{name} has shape {arr.shape}, y {positive.shape}: lengths must match"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite scores")
        arrays.append(arr)
    return positive, arrays


def _twice_u(positive: _Mask, scores: _Floats, counts: _Counts) -> _Counts:
    """2 x Mann-Whitney U per row of `counts` (a win counts 2, a tie 1), exact integers.

    `counts[k, i]` is how often row i was drawn in resample k. Weighting each (positive,
    negative) pair by its counts equals midranking the resampled rows, with one sort.
    """
    negatives = np.flatnonzero(~positive)
    neg_order = negatives[np.argsort(scores[negatives])]
    # Per positive row: how many negatives score below it, and below or level with it.
    below = np.searchsorted(scores[neg_order], scores[positive], side="left")
    not_above = np.searchsorted(scores[neg_order], scores[positive], side="right")
    cum = np.zeros((counts.shape[0], neg_order.size + 1), dtype=np.int64)
    np.cumsum(counts[:, neg_order], axis=1, out=cum[:, 1:])
    wins: _Counts = (counts[:, positive] * (cum[:, below] + cum[:, not_above])).sum(1)
    return wins


def mann_whitney_auc(positive: _Mask, scores: _Floats) -> float:
    """ROC AUC of `scores` against the bool mask `positive`, ties counting one half."""
    n_pos = int(positive.sum())
    wins = _twice_u(positive, scores, np.ones((1, positive.size), dtype=np.int64))
    return float(wins[0]) / (2 * n_pos * (positive.size - n_pos))


def paired_bootstrap_auc(
    y: ArrayLike,
    p_challenger: ArrayLike,
    p_champion: ArrayLike,
    resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapResult:
    """Paired bootstrap of the AUC difference (challenger - champion).

    Each resample draws n row indices with replacement and scores both models on the same
    rows. Resamples with a single class are skipped (`valid_resamples` counts the rest).
    CI: percentile interval [alpha/2, 1 - alpha/2] of the valid resampled differences.
    p-value (two-sided): min(1, 2 * min(P*(d <= 0), P*(d >= 0))), P* the fraction of valid
    resamples; when most differences are positive this is 2 * P*(d <= 0). Its resolution is
    1 / valid_resamples, so 0.0 means "below that".
    """
    positive, (challenger, champion) = validate_scores(
        y, p_challenger=p_challenger, p_champion=p_champion
    )
    n = positive.size
    if resamples < MIN_RESAMPLES:
        raise ValueError(f"resamples must be >= {MIN_RESAMPLES}, got {resamples}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")

    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // n))
    diffs: list[_Floats] = []
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        draws = rng.integers(0, n, size=(k, n)) + (np.arange(k) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=k * n).reshape(k, n)
        n_pos = counts[:, positive].sum(axis=1)
        valid = (n_pos > 0) & (n_pos < n)
        counts, n_pos = counts[valid], n_pos[valid]
        wins = _twice_u(positive, challenger, counts) - _twice_u(positive, champion, counts)
        diffs.append(wins / (2.0 * n_pos * (n - n_pos)))
    diff = np.concatenate(diffs)
    if diff.size < resamples / 2:
        raise ValueError(
            f"only {diff.size} of {resamples} resamples held both classes: minority class too rare"
        )
    low, high = (float(q) for q in np.quantile(diff, [alpha / 2, 1 - alpha / 2]))
    p_value = min(1.0, 2 * float(min(np.mean(diff <= 0), np.mean(diff >= 0))))
    new, old = mann_whitney_auc(positive, challenger), mann_whitney_auc(positive, champion)
    return BootstrapResult(new, old, new - old, low, high, p_value, resamples, diff.size)


def delong_test(
    y: ArrayLike, p_a: ArrayLike, p_b: ArrayLike, *, alpha: float = 0.05
) -> DeLongResult:
    """DeLong test for two correlated AUCs, fast midrank algorithm of Sun & Xu (2014).

    z = (AUC_a - AUC_b) / sqrt(Var), two-sided normal p-value, CI = difference
    +/- z_{1-alpha/2} * sqrt(Var) (95% by default). With zero variance (e.g. identical
    scores) z is 0 and p is 1 when the AUCs are equal, else z is +/-inf and p is 0.
    """
    positive, scores = validate_scores(y, p_a=p_a, p_b=p_b)
    m = int(positive.sum())
    k = positive.size - m
    if m < 2 or k < 2:
        raise ValueError("DeLong test needs at least two positive and two negative rows")
    pos = np.vstack([s[positive] for s in scores])
    neg = np.vstack([s[~positive] for s in scores])
    tz = rankdata(np.hstack([pos, neg]), axis=1)
    auc_a, auc_b = (float(v) for v in (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * k))
    v10 = (tz[:, :m] - rankdata(pos, axis=1)) / k
    v01 = 1.0 - (tz[:, m:] - rankdata(neg, axis=1)) / m
    cov = np.cov(v10) / m + np.cov(v01) / k
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    difference = auc_a - auc_b
    sd = math.sqrt(max(variance, 0.0))
    if sd > 0:
        z, p_value = difference / sd, float(2 * norm.sf(abs(difference / sd)))
    else:
        z, p_value = (0.0, 1.0) if difference == 0 else (math.copysign(math.inf, difference), 0.0)
    half = float(norm.ppf(1 - alpha / 2)) * sd
    return DeLongResult(auc_a, auc_b, difference, z, p_value, difference - half, difference + half)


def mcnemar_test(y: ArrayLike, labels_a: ArrayLike, labels_b: ArrayLike) -> McNemarResult:
    """McNemar test on paired hard predictions.

    b = rows a gets right and b gets wrong, c = the reverse. With b + c < 25 the exact
    two-sided binomial test (statistic = min(b, c)); otherwise chi-square with continuity
    correction, (|b - c| - 1)^2 / (b + c) on 1 df. No disagreement (b + c = 0) gives p = 1.
    """
    truth = np.asarray(y)
    a, b_labels = np.asarray(labels_a), np.asarray(labels_b)
    if truth.ndim != 1 or a.shape != truth.shape or b_labels.shape != truth.shape:
        shapes = f"{truth.shape}, {a.shape}, {b_labels.shape}"
        raise ValueError(f"y, labels_a and labels_b must be 1-D of equal length, got {shapes}")
    right_a, right_b = a == truth, b_labels == truth
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    if b + c < MCNEMAR_EXACT_BELOW:
        p_value = float(binomtest(min(b, c), b + c, 0.5).pvalue) if b + c else 1.0
        return McNemarResult(b, c, float(min(b, c)), min(1.0, p_value), "exact")
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemarResult(b, c, float(statistic), float(chi2.sf(statistic, 1)), "chi2")

"""The test that concludes a live experiment on labelled served traffic (binary problems).

Shadow: both models scored the same records, so the test is paired (DeLong on the same
rows, `ml_assets.lib.significance`). A/B: each arm answered its own entities, so the test
is unpaired: two independent AUCs, each with its DeLong variance, z = difference /
sqrt(var_a + var_b). The verdict waits for `min_samples` labelled records per arm and the
configured confidence; until then it says how many more records per arm the observed
difference would need (z grows with the square root of the sample: n x (z_needed / z)^2).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm, rankdata

from .significance import delong_test, validate_scores

POWER = 0.8


@dataclass(frozen=True)
class ExperimentResult:
    """Both arms' AUC, the test, and what it concludes."""

    test: str
    samples_champion: int
    samples_challenger: int
    auc_champion: float
    auc_challenger: float
    difference: float
    z: float
    p_value: float
    confidence: float
    verdict: str  # challenger_better | champion_better | waiting
    samples_needed: int | None  # more labelled records per arm; None when concluded

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def auc_variance(y: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """ROC AUC of one model on its own rows and its DeLong variance."""
    positive, (values,) = validate_scores(y, scores=scores)
    m, k = int(positive.sum()), int((~positive).sum())
    if m < 2 or k < 2:
        raise ValueError("an AUC variance needs at least two positive and two negative rows")
    pos, neg = values[positive], values[~positive]
    ranks = rankdata(np.concatenate([pos, neg]))
    auc = float((ranks[:m].sum() - m * (m + 1) / 2) / (m * k))
    v10 = (ranks[:m] - rankdata(pos)) / k
    v01 = 1.0 - (ranks[m:] - rankdata(neg)) / m
    return auc, float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / k)


def shadow_test(
    y: ArrayLike,
    p_champion: ArrayLike,
    p_challenger: ArrayLike,
    *,
    confidence: float,
    min_samples: int,
) -> ExperimentResult:
    """Paired: both models on the same labelled records."""
    alpha = 1 - confidence
    result = delong_test(y, p_challenger, p_champion, alpha=alpha)
    n = len(np.asarray(y))
    return _concluded(
        "paired DeLong",
        n,
        n,
        result.auc_b,
        result.auc_a,
        result.z,
        result.p_value,
        confidence,
        min_samples,
    )


def ab_test(
    y_champion: ArrayLike,
    p_champion: ArrayLike,
    y_challenger: ArrayLike,
    p_challenger: ArrayLike,
    *,
    confidence: float,
    min_samples: int,
) -> ExperimentResult:
    """Unpaired: each arm's AUC on the entities it answered."""
    auc_a, var_a = auc_variance(y_champion, p_champion)
    auc_b, var_b = auc_variance(y_challenger, p_challenger)
    sd = math.sqrt(var_a + var_b)
    difference = auc_b - auc_a
    if sd > 0:
        z = difference / sd
        p_value = float(2 * norm.sf(abs(z)))
    else:
        z, p_value = (0.0, 1.0) if difference == 0 else (math.copysign(math.inf, difference), 0.0)
    return _concluded(
        "unpaired DeLong",
        len(np.asarray(y_champion)),
        len(np.asarray(y_challenger)),
        auc_a,
        auc_b,
        z,
        p_value,
        confidence,
        min_samples,
    )


def _concluded(
    test: str,
    n_champion: int,
    n_challenger: int,
    auc_champion: float,
    auc_challenger: float,
    z: float,
    p_value: float,
    confidence: float,
    min_samples: int,
) -> ExperimentResult:
    alpha = 1 - confidence
    enough = min(n_champion, n_challenger) >= min_samples
    significant = p_value < alpha
    if enough and significant:
        verdict = "challenger_better" if z > 0 else "champion_better"
    else:
        verdict = "waiting"
    return ExperimentResult(
        test=test,
        samples_champion=n_champion,
        samples_challenger=n_challenger,
        auc_champion=auc_champion,
        auc_challenger=auc_challenger,
        difference=auc_challenger - auc_champion,
        z=z,
        p_value=p_value,
        confidence=confidence,
        verdict=verdict,
        samples_needed=None
        if verdict != "waiting"
        else _needed(min(n_champion, n_challenger), z, alpha, min_samples),
    )


def _needed(n: int, z: float, alpha: float, min_samples: int) -> int | None:
    """More records per arm for the observed effect to be significant at POWER (None: no
    effect observed, no sample size will show one); at least up to `min_samples`."""
    floor = max(0, min_samples - n)
    if z == 0 or not math.isfinite(z):
        return None if z == 0 else floor
    wanted = float(norm.ppf(1 - alpha / 2) + norm.ppf(POWER))
    return max(floor, math.ceil(n * (wanted / abs(z)) ** 2) - n)

"""The champion/challenger promotion rule: a margin AND a significant paired test.

The statistics live in `significance`; this module decides with them and says why in
words. Labels `y` are binary (0/1 or bool).
"""

from dataclasses import asdict, dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ml_assets.lib.problems import Problem
from ml_assets.lib.significance import (
    BootstrapResult,
    DeLongResult,
    McNemarResult,
    delong_test,
    mann_whitney_auc,
    mcnemar_test,
    paired_bootstrap_auc,
    validate_scores,
)


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger replaces the champion, why, and the evidence behind it."""

    promote: bool
    reason: str
    # The primary metric of the problem type on the test window: ROC AUC for binary.
    challenger_score: float
    champion_score: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    method: str = "none"
    mcnemar_p_value: float | None = None
    mcnemar_b: int | None = None
    mcnemar_c: int | None = None
    metric: str = "roc_auc"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (Python floats, ints, bools, strings, None)."""
        return asdict(self)


def decide_promotion(
    y: ArrayLike,
    p_challenger: ArrayLike,
    p_champion: ArrayLike | None,
    *,
    margin: float,
    alpha: float = 0.05,
    threshold: float = 0.5,
    champion_threshold: float | None = None,
    method: Literal["bootstrap", "delong"] = "bootstrap",
    resamples: int = 1000,
    seed: int = 0,
) -> PromotionDecision:
    """Promote the challenger only if it beats the champion by `margin` AND significantly.

    Significance: bootstrap -> the CI lower bound of the difference is > 0; delong ->
    p < alpha and difference > 0. McNemar on the labels each model serves (the
    challenger's at `threshold`, the champion's at `champion_threshold`, the same by
    default) is reported, never a veto. With no champion (`p_champion is None`) the
    challenger is promoted.
    """
    if method not in ("bootstrap", "delong"):
        raise ValueError(f"method must be 'bootstrap' or 'delong', got {method!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    positive, (challenger,) = validate_scores(y, p_challenger=p_challenger)
    if p_champion is None:
        auc = mann_whitney_auc(positive, challenger)
        reason = f"no current champion: first valid challenger (AUC {auc:.4f}) promoted"
        return PromotionDecision(promote=True, reason=reason, challenger_score=auc)
    champion = validate_scores(y, p_champion=p_champion)[1][0]
    level = f"{(1 - alpha) * 100:g}%"
    if method == "bootstrap":
        test = _bootstrap(
            paired_bootstrap_auc(positive, challenger, champion, resamples, seed, alpha), level
        )
    else:
        test = _delong(delong_test(positive, challenger, champion, alpha=alpha), alpha)
    result = test.result
    diff, low, high = result.difference, result.ci_low, result.ci_high
    mc, mcnemar_text = _mcnemar(positive, challenger, champion, threshold, champion_threshold)
    summary = f"challenger AUC {test.auc_new:.4f} vs champion {test.auc_old:.4f} ({diff:+.4f}, "
    summary += f"{level} CI [{low:+.4f}, {high:+.4f}])"
    promote = diff >= margin and test.significant
    verdict = _verdict(summary, diff, margin, promote, test.text)
    return PromotionDecision(
        promote=promote,
        reason=f"{verdict}; {mcnemar_text} (informational, no veto)",
        challenger_score=test.auc_new,
        champion_score=test.auc_old,
        difference=diff,
        ci_low=low,
        ci_high=high,
        p_value=result.p_value,
        method=method,
        mcnemar_p_value=mc.p_value,
        mcnemar_b=mc.b,
        mcnemar_c=mc.c,
    )


def _mcnemar(
    positive: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    threshold: float,
    champion_threshold: float | None,
) -> tuple[McNemarResult, str]:
    """McNemar on the labels each model serves (the challenger's at `threshold`, the
    champion's at `champion_threshold`, the same by default), and its outcome in words."""
    old_threshold = threshold if champion_threshold is None else champion_threshold
    mc = mcnemar_test(positive, challenger >= threshold, champion >= old_threshold)
    at = f"{threshold:.3g}" + (f"/{old_threshold:.3g}" if old_threshold != threshold else "")
    return mc, f"McNemar at threshold {at}: b={mc.b}, c={mc.c}, p={mc.p_value:.3g}"


class _PairedTest(NamedTuple):
    """One paired test's outcome: the challenger's and champion's AUCs, whether the
    challenger is significantly better, and that judgement in words."""

    result: BootstrapResult | DeLongResult
    auc_new: float
    auc_old: float
    significant: bool
    text: str


def _bootstrap(result: BootstrapResult, level: str) -> _PairedTest:
    """Significant when the CI lower bound of the difference is above 0."""
    significant = result.ci_low > 0
    text = f"the {level} CI lower bound {result.ci_low:+.4f} is "
    text += "> 0" if significant else "<= 0"
    return _PairedTest(result, result.auc_challenger, result.auc_champion, significant, text)


def _delong(result: DeLongResult, alpha: float) -> _PairedTest:
    """Significant when p < alpha and the difference is positive."""
    significant = result.p_value < alpha and result.difference > 0
    text = f"DeLong p={result.p_value:.3g} is {'<' if significant else 'not <'} {alpha:g}"
    return _PairedTest(result, result.auc_a, result.auc_b, significant, text)


def _verdict(summary: str, diff: float, margin: float, promote: bool, test_text: str) -> str:
    """The decision in words: short of the margin, or meeting it with or without the test."""
    if diff < margin:
        return f"kept champion: {summary} falls short of the margin {margin:.4f}"
    verdict = f"{'promoted challenger' if promote else 'kept champion'}: {summary} meets "
    verdict += f"the margin {margin:.4f} {'and' if promote else 'but'} {test_text}"
    return verdict


def decide_by_metric(
    problem: Problem,
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    *,
    margin: float,
    alpha: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
) -> PromotionDecision:
    """The same rule for any problem type: promote only if the challenger's primary metric
    is better by `margin` and the lower bound of the paired bootstrap CI of the gain is
    above 0 (gain is oriented: positive means better, for RMSE too)."""
    metric = problem.primary
    if champion is None:
        score = problem.score(y, challenger)
        shown = "undefined" if score is None else f"{score:.4f}"
        reason = f"no current champion: first valid challenger ({metric.title} {shown}) promoted"
        return PromotionDecision(
            promote=True,
            reason=reason,
            challenger_score=float("nan") if score is None else score,
            metric=metric.name,
        )
    result = problem.compare(y, challenger, champion, resamples=resamples, seed=seed, alpha=alpha)
    level = f"{(1 - alpha) * 100:g}%"
    summary = (
        f"challenger {metric.title} {result.challenger:.4f} vs champion {result.champion:.4f} "
        f"(gain {result.gain:+.4f}, {level} CI [{result.ci_low:+.4f}, {result.ci_high:+.4f}])"
    )
    significant = result.ci_low > 0
    promote = result.gain >= margin and significant
    test_text = (
        f"the paired bootstrap ({result.resamples} resamples) "
        f"{'puts the CI above 0' if significant else 'cannot tell it from 0'}"
    )
    return PromotionDecision(
        promote=promote,
        reason=_verdict(summary, result.gain, margin, promote, test_text),
        challenger_score=result.challenger,
        champion_score=result.champion,
        difference=result.gain,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        p_value=result.p_value,
        method="bootstrap",
        metric=metric.name,
    )

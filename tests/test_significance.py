"""Tier 1: paired significance tests and the champion/challenger promotion rule."""

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from ml_assets.lib.promotion_rule import decide_promotion
from ml_assets.lib.significance import (
    _twice_u,
    delong_test,
    mcnemar_test,
    paired_bootstrap_auc,
)


def synthetic(
    n: int, seed: int, noise_challenger: float, noise_champion: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels from a latent signal; each model sees the signal through its own noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(size=n) > 0.5).astype(int)
    challenger = signal + rng.normal(scale=noise_challenger, size=n)
    champion = signal + rng.normal(scale=noise_champion, size=n)
    return y, challenger, champion


def delong_reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong (1988) from its O(m*n) structural components: (difference, variance)."""
    components = []
    for s in (a, b):
        x, z = s[y == 1], s[y == 0]
        kernel = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        components.append((kernel.mean(axis=0), kernel.mean(axis=1), kernel.mean()))
    (v01_a, v10_a, auc_a), (v01_b, v10_b, auc_b) = components
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    cov = s10 / len(v10_a) + s01 / len(v01_a)
    return auc_a - auc_b, cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


@pytest.mark.parametrize("decimals", [None, 1], ids=["no_ties", "many_ties"])
def test_aucs_equal_sklearn(decimals: int | None) -> None:
    y, a, b = synthetic(3000, seed=1, noise_challenger=0.8, noise_champion=1.2)
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    expected_a, expected_b = roc_auc_score(y, a), roc_auc_score(y, b)

    dl = delong_test(y, a, b)
    boot = paired_bootstrap_auc(y, a, b, resamples=100)
    first = decide_promotion(y, a, None, margin=0.0)

    assert dl.auc_a == pytest.approx(expected_a, abs=1e-12)
    assert dl.auc_b == pytest.approx(expected_b, abs=1e-12)
    assert boot.auc_challenger == pytest.approx(expected_a, abs=1e-12)
    assert boot.auc_champion == pytest.approx(expected_b, abs=1e-12)
    assert first.challenger_score == pytest.approx(expected_a, abs=1e-12)


def test_resample_counts_give_the_auc_of_the_resampled_rows() -> None:
    y, a, _ = synthetic(500, seed=2, noise_challenger=1.0, noise_champion=1.0)
    a = np.round(a, 1)  # ties, including between a row and its own duplicates
    rng = np.random.default_rng(3)
    draws = rng.integers(0, y.size, size=(5, y.size))
    counts = np.vstack([np.bincount(row, minlength=y.size) for row in draws])
    positive = y.astype(bool)

    twice_u = _twice_u(positive, a, counts)

    for row, value in zip(draws, twice_u, strict=True):
        n_pos = int(y[row].sum())
        auc = value / (2 * n_pos * (y.size - n_pos))
        assert auc == pytest.approx(roc_auc_score(y[row], a[row]), abs=1e-12)


@pytest.mark.parametrize("method", ["bootstrap", "delong"])
def test_identical_models_keep_the_champion(method: str) -> None:
    y, a, _ = synthetic(2000, seed=4, noise_challenger=1.0, noise_champion=1.0)

    boot = paired_bootstrap_auc(y, a, a.copy())
    decision = decide_promotion(y, a, a.copy(), margin=0.0, method=method)  # type: ignore[arg-type]

    assert boot.difference == 0.0
    assert boot.ci_low <= 0.0 <= boot.ci_high
    assert boot.p_value == 1.0
    assert not decision.promote
    assert decision.difference == 0.0
    assert decision.reason.startswith("kept champion")
    assert decision.mcnemar_b == decision.mcnemar_c == 0
    assert decision.mcnemar_p_value == 1.0


@pytest.mark.parametrize("method", ["bootstrap", "delong"])
def test_clearly_better_challenger_is_promoted(method: str) -> None:
    y, challenger, champion = synthetic(5000, seed=5, noise_challenger=0.3, noise_champion=1.5)

    decision = decide_promotion(y, challenger, champion, margin=0.01, method=method)  # type: ignore[arg-type]

    assert decision.promote
    assert decision.method == method
    assert decision.ci_low is not None and decision.ci_low > 0
    assert decision.difference is not None and decision.difference >= 0.01
    assert decision.reason.startswith("promoted challenger")
    assert f"challenger AUC {roc_auc_score(y, challenger):.4f}" in decision.reason
    assert f"champion {roc_auc_score(y, champion):.4f}" in decision.reason
    assert "95% CI [" in decision.reason
    assert "McNemar" in decision.reason


@pytest.mark.parametrize("method", ["bootstrap", "delong"])
def test_significantly_better_but_below_margin_keeps_the_champion(method: str) -> None:
    y, challenger, champion = synthetic(5000, seed=5, noise_challenger=0.3, noise_champion=1.5)

    decision = decide_promotion(y, challenger, champion, margin=0.5, method=method)  # type: ignore[arg-type]

    assert not decision.promote
    assert decision.ci_low is not None and decision.ci_low > 0  # significant: margin decided
    assert "falls short of the margin 0.5000" in decision.reason


def test_better_by_margin_but_not_significant_keeps_the_champion() -> None:
    y, challenger, champion = synthetic(150, seed=6, noise_challenger=1.0, noise_champion=1.1)

    decision = decide_promotion(y, challenger, champion, margin=0.0)

    assert decision.difference is not None and decision.difference > 0
    assert decision.ci_low is not None and decision.ci_low <= 0
    assert not decision.promote
    assert "meets the margin 0.0000 but the 95% CI lower bound" in decision.reason


def test_worse_challenger_is_kept_out_by_delong() -> None:
    y, challenger, champion = synthetic(3000, seed=7, noise_challenger=1.5, noise_champion=0.3)

    decision = decide_promotion(y, challenger, champion, margin=0.0, method="delong")

    assert decision.difference is not None and decision.difference < 0
    assert decision.p_value is not None and decision.p_value < 0.05
    assert not decision.promote


def test_first_model_is_promoted_and_serialises() -> None:
    y, challenger, _ = synthetic(500, seed=8, noise_challenger=1.0, noise_champion=1.0)

    decision = decide_promotion(y, challenger, None, margin=0.01)

    assert decision.promote
    assert decision.reason.startswith("no current champion: first valid challenger")
    assert decision.champion_score is None and decision.mcnemar_p_value is None
    payload = json.loads(json.dumps(decision.to_dict()))
    assert payload["promote"] is True
    assert payload["challenger_score"] == pytest.approx(roc_auc_score(y, challenger))


def test_decision_serialises_with_all_fields() -> None:
    y, challenger, champion = synthetic(1000, seed=9, noise_challenger=0.5, noise_champion=1.0)

    payload = json.loads(
        json.dumps(decide_promotion(y, challenger, champion, margin=0.0).to_dict())
    )

    assert set(payload) >= {"promote", "reason", "ci_low", "ci_high", "p_value", "mcnemar_b"}
    assert payload["method"] == "bootstrap"


def test_bootstrap_is_reproducible_per_seed() -> None:
    y, a, b = synthetic(2000, seed=10, noise_challenger=0.9, noise_champion=1.0)

    first = paired_bootstrap_auc(y, a, b, seed=42)
    again = paired_bootstrap_auc(y, a, b, seed=42)
    other = paired_bootstrap_auc(y, a, b, seed=43)

    assert first == again
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)


def test_bootstrap_p_value_and_ci_mirror_when_models_swap() -> None:
    y, a, b = synthetic(1000, seed=11, noise_challenger=0.9, noise_champion=1.0)

    forward = paired_bootstrap_auc(y, a, b, seed=1)
    backward = paired_bootstrap_auc(y, b, a, seed=1)

    assert backward.p_value == forward.p_value
    assert backward.ci_low == pytest.approx(-forward.ci_high, abs=1e-12)
    assert backward.ci_high == pytest.approx(-forward.ci_low, abs=1e-12)
    assert 0.0 < forward.p_value < 1.0


def test_delong_matches_the_structural_components_definition() -> None:
    y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1])
    a = np.array([0.9, 0.8, 0.7, 0.4, 0.6, 0.2, 0.3, 0.4, 0.1, 0.5, 0.6, 0.7, 0.2, 0.9])
    b = np.array([0.7, 0.9, 0.3, 0.5, 0.5, 0.4, 0.1, 0.5, 0.3, 0.2, 0.8, 0.6, 0.5, 0.4])
    difference, variance = delong_reference(y, a, b)

    result = delong_test(y, a, b)

    assert result.difference == pytest.approx(difference, abs=1e-12)
    assert result.z == pytest.approx(difference / math.sqrt(variance), rel=1e-9)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(result.z)), rel=1e-9)
    half_width = 1.959963984540054 * math.sqrt(variance)
    assert result.ci_high - result.ci_low == pytest.approx(2 * half_width, rel=1e-9)


def test_delong_ci_agrees_with_the_bootstrap_ci() -> None:
    y, a, b = synthetic(3000, seed=12, noise_challenger=0.8, noise_champion=1.0)

    dl = delong_test(y, a, b)
    boot = paired_bootstrap_auc(y, a, b, resamples=2000, seed=0)

    delong_width, boot_width = dl.ci_high - dl.ci_low, boot.ci_high - boot.ci_low
    assert abs(delong_width / boot_width - 1) < 0.25
    assert abs((dl.ci_low + dl.ci_high) / 2 - (boot.ci_low + boot.ci_high) / 2) < 0.25 * boot_width
    assert (dl.p_value < 0.05) == (boot.ci_low > 0)


def paired_labels(b: int, c: int, both_right: int = 7, both_wrong: int = 3) -> tuple:
    """All-positive truth; model A and B labels with exactly b and c discordant rows."""
    a_labels = [1] * b + [0] * c + [1] * both_right + [0] * both_wrong
    b_labels = [0] * b + [1] * c + [1] * both_right + [0] * both_wrong
    return np.ones(len(a_labels), dtype=int), np.array(a_labels), np.array(b_labels)


def test_mcnemar_exact_branch() -> None:
    result = mcnemar_test(*paired_labels(10, 2))

    assert (result.b, result.c, result.method) == (10, 2, "exact")
    assert result.statistic == 2.0
    # 2 * P(X <= 2) for X ~ Binomial(12, 1/2) = 2 * (1 + 12 + 66) / 4096
    assert result.p_value == pytest.approx(158 / 4096, rel=1e-12)


def test_mcnemar_chi_square_branch() -> None:
    result = mcnemar_test(*paired_labels(30, 10))

    assert (result.b, result.c, result.method) == (30, 10, "chi2")
    assert result.statistic == pytest.approx((20 - 1) ** 2 / 40)
    # chi-square with 1 df: P(X > s) = erfc(sqrt(s / 2))
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)), rel=1e-9)


@pytest.mark.parametrize(("b", "c", "method"), [(12, 12, "exact"), (13, 12, "chi2")])
def test_mcnemar_switches_to_chi_square_at_25_discordant_pairs(b: int, c: int, method: str) -> None:
    result = mcnemar_test(*paired_labels(b, c))

    assert result.method == method
    assert 0.0 < result.p_value <= 1.0


def test_mcnemar_without_disagreement_is_one_not_nan() -> None:
    result = mcnemar_test(*paired_labels(0, 0))

    assert (result.b, result.c, result.statistic, result.p_value) == (0, 0, 0.0, 1.0)


def test_thousand_resamples_on_thirty_thousand_rows_all_valid() -> None:
    y, a, b = synthetic(30_000, seed=13, noise_challenger=0.9, noise_champion=1.0)

    result = paired_bootstrap_auc(y, a, b)

    assert result.resamples == result.valid_resamples == 1000


def test_single_class_resamples_are_skipped() -> None:
    y = np.zeros(40, dtype=int)
    y[0] = 1  # a resample misses the only positive with probability (39/40)**40 ~ 36%
    scores = np.linspace(0, 1, 40)

    result = paired_bootstrap_auc(y, scores, scores[::-1], resamples=200, seed=0)

    assert 100 <= result.valid_resamples < 200


Y = np.array([0, 1, 0, 1])
P = np.array([0.1, 0.9, 0.2, 0.8])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: paired_bootstrap_auc(np.ones(4), P, P), "single class"),
        (lambda: delong_test(np.zeros(4), P, P), "single class"),
        (lambda: decide_promotion(np.ones(4), P, P, margin=0.0), "single class"),
        (lambda: decide_promotion(np.ones(4), P, None, margin=0.0), "single class"),
        (lambda: paired_bootstrap_auc(Y, P, P[:3]), "lengths must match"),
        (lambda: delong_test(Y, P[:3], P), "lengths must match"),
        (lambda: paired_bootstrap_auc(Y, P, P, resamples=99), "resamples must be >= 100"),
        (lambda: paired_bootstrap_auc(Y, P, P, alpha=1.0), "alpha"),
        (lambda: paired_bootstrap_auc(np.array([0, 1, 2, 1]), P, P), "binary"),
        (lambda: delong_test(Y, np.array([0.1, np.nan, 0.2, 0.8]), P), "NaN"),
        (lambda: delong_test(np.array([0, 1, 1, 1]), P, P), "two positive and two negative"),
        (lambda: decide_promotion(Y, P, P, margin=0.0, method="ttest"), "method"),  # type: ignore[arg-type]
        (lambda: decide_promotion(Y, P, P, margin=-0.1), "margin"),
        (lambda: mcnemar_test(Y, P[:3], P), "equal length"),
    ],
)
def test_invalid_inputs_raise(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()

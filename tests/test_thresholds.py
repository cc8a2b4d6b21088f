"""Tier 1: the decision threshold chosen on validation for an objective."""

import numpy as np
import pytest

from ml_assets.lib.thresholds import FALLBACK, choose_threshold


def scores(rows: int, positive_rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < positive_rate).astype(int)
    p = np.clip(0.15 + 0.25 * y + rng.normal(0, 0.12, rows), 0, 1)
    return y, p


def f1_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    predicted = p >= threshold
    tp = int((predicted & (y == 1)).sum())
    fp = int((predicted & (y == 0)).sum())
    fn = int((~predicted & (y == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def test_f1_choice_beats_half_on_a_rare_positive_class() -> None:
    y, p = scores(5000, 0.12)
    choice = choose_threshold(y, p, "f1")
    assert choice.threshold < 0.5  # calibrated-ish scores of a rare class sit low
    assert f1_at(y, p, choice.threshold) == pytest.approx(choice.value)
    assert choice.value > f1_at(y, p, 0.5) + 0.2
    # No other threshold does better: a brute-force scan agrees.
    assert choice.value == pytest.approx(max(f1_at(y, p, t) for t in np.unique(p)))


def test_cost_choice_moves_with_the_costs() -> None:
    y, p = scores(5000, 0.2, seed=1)
    cheap_misses = choose_threshold(y, p, "cost", false_positive_cost=5, false_negative_cost=1)
    costly_misses = choose_threshold(y, p, "cost", false_positive_cost=1, false_negative_cost=5)
    assert costly_misses.threshold < cheap_misses.threshold
    cost = [((p >= t) & (y == 0)).sum() + 5 * ((p < t) & (y == 1)).sum() for t in np.unique(p)]
    assert costly_misses.value == pytest.approx(min(cost) / len(y))


@pytest.mark.parametrize("y", [np.zeros(50, dtype=int), np.ones(50, dtype=int), np.array([])])
def test_single_class_or_empty_falls_back_and_says_why(y: np.ndarray) -> None:
    choice = choose_threshold(y, np.linspace(0, 1, len(y)), "f1")
    assert choice.threshold == FALLBACK and choice.value is None
    assert "fallback" in choice.reason


def test_many_distinct_scores_are_bounded() -> None:
    y, p = scores(200_000, 0.3, seed=2)
    choice = choose_threshold(y, p, "f1")
    assert len(choice.curve) <= 512 and 0 < choice.threshold < 1


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 labels but 2 probabilities"):
        choose_threshold([0, 1, 0], [0.1, 0.2])

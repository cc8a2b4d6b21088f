"""Live performance of one day: verdicts and edge cases (no labels, one class)."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config.monitoring import PerformanceConfig
from ml_assets.lib.live_performance import evaluate
from ml_assets.lib.problems import Calibration
from ml_assets.lib.problems.binary import BinaryProblem

BINARY = (BinaryProblem(), Calibration(threshold=0.5))
POLICY = PerformanceConfig(drop_warn=0.03, drop_error=0.06, min_rows=50)


def day(n: int, signal: float, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    actual = rng.uniform(size=n) < 0.3
    noise = rng.uniform(size=n)
    probability = np.clip(signal * actual + (1 - signal) * noise, 0, 1)
    return pd.Series(actual, dtype="boolean"), probability


def test_a_day_as_good_as_the_test_window_is_ok() -> None:
    actual, probability = day(500, 0.6)
    result = evaluate(actual, probability, {"roc_auc": 0.9}, POLICY, BINARY)
    assert result.verdict == "ok" and result.value is not None and result.value > 0.9


def test_a_drop_past_the_error_threshold_is_an_error() -> None:
    actual, probability = day(500, 0.05)
    result = evaluate(actual, probability, {"roc_auc": 0.9}, POLICY, BINARY)
    assert result.verdict == "error"
    assert result.drop is not None and result.drop > 0.06
    assert "drop" in result.reason


def test_unlabelled_rows_are_left_out() -> None:
    actual, probability = day(500, 0.6)
    actual[:200] = pd.NA
    result = evaluate(actual, probability, {"roc_auc": 0.9}, POLICY, BINARY)
    assert result.labelled == 300 and result.rows == 500


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ([pd.NA] * 300, "no labelled"),
        ([True] * 300, "single-class"),
        ([False] * 300, "single-class"),
        ([True, False] * 10, "fewer than"),
    ],
)
def test_days_without_a_verdict_say_why_and_have_no_nan(labels: list, words: str) -> None:
    actual = pd.Series(labels, dtype="boolean")
    probability = np.linspace(0, 1, len(labels))
    result = evaluate(actual, probability, {"roc_auc": 0.9}, POLICY, BINARY)
    assert result.verdict == "no_verdict" and words in result.reason
    row = result.as_row()
    assert not any(isinstance(v, float) and np.isnan(v) for v in row.values())


def test_no_test_score_means_no_verdict() -> None:
    actual, probability = day(500, 0.6)
    result = evaluate(actual, probability, {}, POLICY, BINARY)
    assert result.verdict == "no_verdict" and result.value is not None

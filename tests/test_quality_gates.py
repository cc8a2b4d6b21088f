"""Tier 1: the quality gates a challenger must pass before a champion decision."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.problems.binary import BinaryProblem
from ml_assets.lib.quality_gates import (
    LOGISTIC,
    MAJORITY,
    baseline_scores,
    beats_baselines,
    clears_floor,
)


@pytest.mark.parametrize(
    ("auc", "baselines", "passed"),
    [
        (0.70, {MAJORITY: 0.5, LOGISTIC: 0.65}, True),
        (0.65, {MAJORITY: 0.5, LOGISTIC: 0.65}, True),  # equal to a fitted baseline
        (0.60, {MAJORITY: 0.5, LOGISTIC: 0.65}, False),
        (0.50, {MAJORITY: 0.5}, False),  # a constant score ranks nothing
        (0.70, {MAJORITY: 0.5, LOGISTIC: float("nan")}, False),
        (float("nan"), {MAJORITY: 0.5}, False),
        (0.51, {}, True),
    ],
)
def test_beats_baselines(auc: float, baselines: dict[str, float], passed: bool) -> None:
    result = beats_baselines(auc, baselines)
    assert result.passed is passed, result.description
    if not passed and not np.isnan(auc):
        assert "does not beat" in result.description


@pytest.mark.parametrize(
    ("auc", "floor", "passed"), [(0.7, None, True), (0.7, 0.7, True), (0.69, 0.7, False)]
)
def test_clears_floor(auc: float, floor: float | None, passed: bool) -> None:
    assert clears_floor(auc, floor).passed is passed


def _frame(rows: int, signal: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    label = rng.random(rows) < 1 / (1 + np.exp(-signal * x))
    return pd.DataFrame({"x": x, "colour": rng.choice(["a", "b"], rows), "y": label})


def test_baseline_scores_fit_a_real_logistic_regression() -> None:
    train, validation = _frame(600, 3.0, 1), _frame(300, 3.0, 2)
    spec = FeatureSpec.fit(train, {"x": "numeric", "colour": "categorical"}, "y")
    y_train, y_validation = spec.labels(train).to_numpy(), spec.labels(validation).to_numpy()
    scores = baseline_scores(
        BinaryProblem(),
        spec,
        (spec.matrix(train), y_train),
        (spec.matrix(validation), y_validation),
        (y_train, y_validation),
        seed=0,
    )
    assert scores[MAJORITY] == 0.5
    assert 0.75 < scores[LOGISTIC] <= 1.0  # a strong real signal is found


def test_single_class_validation_gives_undefined_baselines() -> None:
    train, validation = _frame(200, 3.0, 1), _frame(50, 3.0, 2).assign(y=True)
    spec = FeatureSpec.fit(train, {"x": "numeric", "colour": "categorical"}, "y")
    y_train, y_validation = spec.labels(train).to_numpy(), spec.labels(validation).to_numpy()
    scores = baseline_scores(
        BinaryProblem(),
        spec,
        (spec.matrix(train), y_train),
        (spec.matrix(validation), y_validation),
        (y_train, y_validation),
        seed=0,
    )
    assert all(np.isnan(v) for v in scores.values())

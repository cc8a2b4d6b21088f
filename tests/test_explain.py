"""Tier 1: SHAP explanations find the real signal and agree with XGBoost's own numbers."""

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.artifacts import load_model, save_model
from ml_assets.lib.explain import (
    MODEL_AGNOSTIC_MAX_ROWS,
    agreement,
    plot_summary,
    shap_values,
    xgboost_contributions,
)
from tests.test_artifacts import BUILDERS, SPEC, fitted, synthetic_flights


@pytest.fixture(scope="module", params=list(BUILDERS))
def model_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def only_a(model_kind: str) -> Any:
    """A model trained where the label depends on `a` alone."""
    return fitted(model_kind, synthetic_flights(800, only_a_matters=True))


@pytest.fixture(scope="module")
def booster() -> Any:
    return fitted("xgboost", synthetic_flights(800))


def _log_odds(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def test_global_importance_ranks_the_signal_feature_first(only_a: Any) -> None:
    frame = synthetic_flights(300, seed=5, only_a_matters=True)
    result = shap_values(only_a, SPEC, frame, sample=200)
    assert result.global_importance.index[0] == "a"
    assert result.global_importance.iloc[0] > 3 * result.global_importance.iloc[1:].max()
    assert result.global_importance.is_monotonic_decreasing
    assert list(result.values.columns) == SPEC.columns and len(result.values) == 200


def test_values_add_up_to_the_models_log_odds(only_a: Any) -> None:
    frame = synthetic_flights(120, seed=6)
    frame.loc[frame.index[:5], "c"] = "never-seen"
    result = shap_values(only_a, SPEC, frame)
    proba = only_a.predict_proba(SPEC.matrix(frame.loc[result.values.index]))[:, 1]
    total = result.values.sum(axis=1).to_numpy() + result.base_value
    np.testing.assert_allclose(total, _log_odds(proba), atol=1e-4)
    assert result.output == "log-odds"


def test_xgboost_shap_agrees_with_its_own_contributions(booster: Any) -> None:
    frame = synthetic_flights(400, seed=7)
    result = shap_values(booster, SPEC, frame)
    contribs = xgboost_contributions(booster, SPEC, frame)
    assert result.method == "tree"
    assert agreement(result.values, contribs) < 1e-3
    # contributions plus bias are the margin: an independent check of both tables
    margin = booster.predict(SPEC.matrix(frame), output_margin=True)
    np.testing.assert_allclose(contribs.sum(axis=1) + result.base_value, margin, atol=1e-4)


def test_agreement_sees_a_difference_and_refuses_other_features() -> None:
    left = pd.DataFrame({"a": [0.1, 0.2], "b": [0.0, 0.0]})
    right = pd.DataFrame({"b": [0.0, 0.0], "a": [0.1, 0.7]})
    assert agreement(left, right) == pytest.approx(0.5)
    assert agreement(left, right.iloc[::-1]) == pytest.approx(0.5)  # rows matched by index
    with pytest.raises(ValueError, match="different features"):
        agreement(left, right.rename(columns={"b": "z"}))
    with pytest.raises(ValueError, match="no contributions"):
        agreement(left, right.set_axis([0, 5]))


def test_non_tree_models_explain_at_most_the_cap(tmp_path: Path) -> None:
    model = fitted("logistic_regression", synthetic_flights())
    save_model(model, SPEC, tmp_path)
    frame = synthetic_flights(MODEL_AGNOSTIC_MAX_ROWS + 100, seed=8)
    result = shap_values(load_model(tmp_path), None, frame, sample=5000, seed=3)
    assert result.method == "permutation"
    assert len(result.values) == MODEL_AGNOSTIC_MAX_ROWS


def test_rows_are_sampled_by_seed(booster: Any) -> None:
    frame = synthetic_flights(300, seed=4)
    first = shap_values(booster, SPEC, frame, sample=50, seed=1)
    again = shap_values(booster, SPEC, frame, sample=50, seed=1)
    other = shap_values(booster, SPEC, frame, sample=50, seed=2)
    pd.testing.assert_frame_equal(first.values, again.values)
    assert len(first.values) == 50 and not first.values.index.equals(other.values.index)


def test_nothing_to_explain_is_an_error(booster: Any) -> None:
    with pytest.raises(ValueError, match="no rows"):
        shap_values(booster, SPEC, synthetic_flights(10).iloc[:0])
    with pytest.raises(ValueError, match="feature spec"):
        shap_values(booster, None, synthetic_flights(10))


def test_summary_plot_is_a_png_and_leaves_no_figure_open(booster: Any, tmp_path: Path) -> None:
    result = shap_values(booster, SPEC, synthetic_flights(100, seed=9))
    before = plt.get_fignums()
    path = plot_summary(result, tmp_path / "plots" / "shap.png", max_features=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before == []

"""Selection that survives the shift to test: rolling-origin folds, the ranking rule,
the refit on train + validation, tuning budgets in trials, `train_days: all`."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from ml_assets.lib.config import load_pipeline_config
from ml_assets.lib.config.lifecycle import CandidateConfig, TrainingConfig, TuningConfig
from ml_assets.lib.folds import earlier_folds, selection_score
from ml_assets.lib.problems.base import PrimaryMetric
from ml_assets.lib.split import Window, rolling_folds, temporal_split, training_split
from ml_assets.lifecycle.candidate_runs import _refit
from tests.conftest import FLIGHT_DELAYS_YAML
from tests.tuning_worker import tune_logistic

SPLIT = temporal_split(date(2013, 5, 31), train_days=120, validation_days=21, test_days=10)


def test_rolling_folds_are_back_to_back_and_end_on_the_validation_window() -> None:
    folds = rolling_folds(SPLIT, 3)
    assert [fold for _, fold in folds] == [
        Window(date(2013, 3, 20), date(2013, 4, 9)),
        Window(date(2013, 4, 10), date(2013, 4, 30)),
        SPLIT.validation,
    ]
    for train, fold in folds:
        assert train.start == SPLIT.train.start
        assert train.end == fold.start - timedelta(days=1)  # fitted only on earlier days
    assert folds[-1][0] == SPLIT.train


def test_too_many_folds_are_refused_in_the_config_and_in_the_split() -> None:
    with pytest.raises(ValueError, match="leave no training day"):
        rolling_folds(SPLIT, 7)  # 6 earlier folds of 21 days > 120 training days
    with pytest.raises(ValueError, match="validation_folds 7 take 126 of the 120"):
        TrainingConfig(validation_folds=7, candidates={"xgboost": CandidateConfig()})


def test_earlier_folds_fit_on_the_past_and_score_the_fold() -> None:
    days = pd.date_range("2013-01-01", "2013-05-31").date
    rows = pd.DataFrame({"event_date": np.repeat(days, 3), "x": np.arange(len(days) * 3)})
    window_of = {day: name for name, w in SPLIT.windows().items() for day in w.days()}
    rows["window"] = [window_of[str(day)] for day in rows.event_date]

    def frames(part: pd.DataFrame) -> tuple[tuple[pd.Series, pd.Series], pd.Series]:
        return (part["event_date"], part["x"]), part["x"]

    folds = earlier_folds(rows, ("event_date", "window"), 3, frames)
    assert [f.window for f in folds] == [w for _, w in rolling_folds(SPLIT, 3)[:-1]]
    for fold in folds:
        fitted_days, scored_days = fold.train[0], fold.validation[0]
        assert fitted_days.max() < fold.window.start <= scored_days.min()
        assert scored_days.max() == fold.window.end and len(scored_days) == 21 * 3
    assert earlier_folds(rows, ("event_date", "window"), 1, frames) == []


@pytest.mark.parametrize(
    ("greater", "rule", "expected"),
    [(True, "mean", 0.7), (True, "worst_fold", 0.6), (False, "worst_fold", 0.8)],
)
def test_selection_rule(greater: bool, rule: str, expected: float) -> None:
    metric = PrimaryMetric("m", greater_is_better=greater)
    assert selection_score([0.6, 0.8, 0.7], rule, metric) == pytest.approx(expected)


def test_refit_is_a_fresh_fit_on_train_and_validation() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = (x["a"] + rng.normal(scale=0.5, size=400) > 0).astype(int).to_numpy()
    train, validation = (x[:300], y[:300]), (x[300:], y[300:])
    tuned = LogisticRegression(C=0.3).fit(*train)
    refit = _refit(tuned, train, validation)
    both = LogisticRegression(C=0.3).fit(x, y)
    assert refit is not tuned
    np.testing.assert_allclose(refit.coef_, both.coef_)
    assert not np.allclose(refit.coef_, tuned.coef_)  # validation rows changed the fit


def test_the_trial_budget_decides_and_the_safety_net_says_when_it_stopped_a_study() -> None:
    assert tune_logistic(TuningConfig(n_trials=3), "budget").timed_out is False
    stopped = tune_logistic(TuningConfig(n_trials=10_000, timeout_seconds=0.2), "budget")
    assert stopped.timed_out is True and stopped.n_trials < 10_000


def test_the_demo_trains_on_every_row_and_train_days_all_reaches_the_first_day() -> None:
    training = load_pipeline_config(FLIGHT_DELAYS_YAML).training
    assert training is not None and training.max_train_rows is None
    available = [d.isoformat() for d in pd.date_range("2013-01-01", "2013-05-31").date]
    split = training_split(date(2013, 5, 31), "all", 21, 10, available)
    assert split.train.start == date(2013, 1, 1)
    assert split.validation == SPLIT.validation
    with pytest.raises(ValueError, match="leaves no training day"):
        training_split(date(2013, 5, 31), "all", 21, 10, available[-20:])

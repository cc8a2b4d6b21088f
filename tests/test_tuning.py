"""Tier 1: tuning is reproducible with a seed and prunes hopeless trials."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config.models import CandidateConfig, SearchParam, TuningConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.tuning import XGBoostPruning, tune_candidate


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "group": pd.Categorical(
                rng.choice(["a", "b", "c"], size=n), categories=["a", "b", "c"]
            ),
        }
    )
    logit = 1.5 * frame["x"] + (frame["group"] == "c") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y.to_numpy()


SPEC = FeatureSpec(label="y", numeric=["x", "noise"], categorical={"group": ["a", "b", "c"]})
SPACES = {
    "xgboost": CandidateConfig(
        params={"n_estimators": 40},
        search_space={
            "max_depth": SearchParam(type="int", low=2, high=6),
            "learning_rate": SearchParam(type="float", low=0.01, high=0.5, log=True),
        },
    ),
    "logistic_regression": CandidateConfig(
        search_space={"C": SearchParam(type="float", low=0.001, high=10, log=True)}
    ),
    "hist_gradient_boosting": CandidateConfig(
        params={"max_iter": 50},
        search_space={"learning_rate": SearchParam(type="float", low=0.01, high=0.5, log=True)},
    ),
}


@pytest.mark.parametrize("family", list(SPACES))
def test_same_seed_same_result(family: str) -> None:
    train, validation = _data(1500, 1), _data(600, 2)
    tuning = TuningConfig(n_trials=4, timeout_seconds=300, pruning_warmup_steps=1)
    runs = [
        tune_candidate(
            family,
            SPACES[family],
            tuning,
            SPEC,
            train,
            validation,
            seed=11,  # type: ignore[arg-type]
            study_name=f"repro-{family}-{i}",
        )
        for i in range(2)
    ]
    assert runs[0].best_params == runs[1].best_params
    assert runs[0].best_value == runs[1].best_value
    assert runs[0].best_value > 0.7  # the signal in x is found
    assert runs[0].n_trials == 4 and len(runs[0].history) == 4
    p0 = runs[0].model.predict_proba(train[0])[:, 1]
    p1 = runs[1].model.predict_proba(train[0])[:, 1]
    assert np.array_equal(p0, p1)


def test_boosted_trials_that_fall_behind_are_pruned() -> None:
    train, validation = _data(2000, 3), _data(800, 4)
    candidate = CandidateConfig(
        params={"n_estimators": 60},
        search_space={
            "learning_rate": SearchParam(type="float", low=0.0001, high=0.5, log=True),
            "max_depth": SearchParam(type="int", low=1, high=6),
        },
    )
    result = tune_candidate(
        "xgboost",
        candidate,
        TuningConfig(n_trials=16, pruning_warmup_steps=2),
        SPEC,
        train,
        validation,
        seed=3,
        study_name="pruning",
    )
    assert result.n_pruned > 0
    assert result.n_complete + result.n_pruned == result.n_trials
    never = TuningConfig(n_trials=16, pruning_warmup_steps=2, prune_after_fraction=1.0)
    unpruned = tune_candidate(
        "xgboost", candidate, never, SPEC, train, validation, seed=3, study_name="no-pruning"
    )
    assert unpruned.n_pruned == 0 and unpruned.n_complete == 16


def test_a_boosted_trial_is_judged_only_after_its_share_of_rounds() -> None:
    """Issue 20: pruned on its first rounds, a slow learning rate never got to finish."""
    import optuna

    always = optuna.pruners.ThresholdPruner(lower=2.0)  # any AUC is below: prune at once
    trial = optuna.create_study(direction="maximize", pruner=always).ask()
    callback = XGBoostPruning(trial, maximize=True, first=30)
    log: dict[str, dict[str, list[float]]] = {"validation_0": {"auc": []}}
    for epoch in range(31):
        log["validation_0"]["auc"].append(0.6)
        if epoch < 30:
            assert callback.after_iteration(None, epoch, log) is False
    with pytest.raises(optuna.TrialPruned, match="at step 30"):
        callback.after_iteration(None, 30, log)


def test_a_shared_rdb_study_keeps_its_trials(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tuning = TuningConfig(n_trials=3, storage=storage)
    train, validation = _data(800, 5), _data(400, 6)
    tune_candidate(
        "logistic_regression",
        SPACES["logistic_regression"],
        tuning,
        SPEC,
        train,
        validation,
        seed=1,
        study_name="shared",
    )
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 3 and study.best_value > 0.7


def test_a_category_with_more_levels_than_bins_tunes_saves_and_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Hist gradient boosting refuses a category with more levels than its max_bins (829
    first names broke a training): such a one becomes an ordinal code, and the model is
    saved and loaded like any other."""
    from ml_assets.lib.artifacts import load_model, save_model

    levels = [f"n{i}" for i in range(40)]

    def data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        frame, y = _data(n, seed)
        drawn = np.random.default_rng(seed).integers(0, len(levels), size=n)
        frame["name"] = pd.Categorical([levels[i] for i in drawn], categories=levels)
        return frame, y

    spec = FeatureSpec(
        label="y", numeric=["x", "noise"], categorical={"group": ["a", "b", "c"], "name": levels}
    )
    candidate = CandidateConfig(
        params={"max_iter": 20, "max_bins": 16},
        search_space={"learning_rate": SearchParam(type="float", low=0.05, high=0.5)},
    )
    tuning = TuningConfig(n_trials=2, timeout_seconds=300, pruning_warmup_steps=1)
    train, validation = data(1500, 1), data(600, 2)
    result = tune_candidate(
        "hist_gradient_boosting",
        candidate,
        tuning,
        spec,
        train,
        validation,
        seed=3,
        study_name="wide",
    )
    assert result.best_value > 0.7
    save_model(result.model, spec, tmp_path)
    loaded = load_model(tmp_path)
    assert np.array_equal(
        loaded.model.predict_proba(validation[0]), result.model.predict_proba(validation[0])
    )

"""Optuna tuning of one candidate family on the validation window, with pruning.

Boosted models report their validation ROC AUC as they grow (every boosting round for
XGBoost, every 25 iterations for hist-gradient-boosting), so the median pruner can stop
a trial that is already behind; logistic regression reports once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from xgboost.callback import TrainingCallback

from .candidates import build_model
from .config.models import CandidateConfig, CandidateFamily, SearchParam, TuningConfig
from .feature_spec import FeatureSpec

HGB_STEP = 25


@dataclass
class TuningResult:
    family: CandidateFamily
    best_params: dict[str, Any]
    best_value: float
    n_trials: int
    n_complete: int
    n_pruned: int
    seconds: float
    history: pd.DataFrame
    model: Any


def tune_candidate(
    family: CandidateFamily,
    candidate: CandidateConfig,
    tuning: TuningConfig,
    spec: FeatureSpec,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    seed: int,
    study_name: str,
) -> TuningResult:
    """Tune with seeded TPE, refit the best parameters on the training window."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=tuning.storage,
        load_if_exists=tuning.storage is not None,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=3, n_warmup_steps=tuning.pruning_warmup_steps
        ),
    )

    def objective(trial: optuna.Trial) -> float:
        params = {**candidate.params, **suggest(trial, candidate.search_space)}
        model = build_model(family, params, spec, seed)
        return _fit_reporting(family, model, train, validation, trial)

    begun = time.perf_counter()
    study.optimize(objective, n_trials=tuning.n_trials, timeout=tuning.timeout_seconds)
    seconds = time.perf_counter() - begun
    states = [t.state for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"{family}: no trial completed in {seconds:.0f} s; raise the budget")
    best_params = {**candidate.params, **study.best_trial.params}
    model = build_model(family, best_params, spec, seed)
    model.fit(*train)
    return TuningResult(
        family=family,
        best_params=best_params,
        best_value=float(study.best_value),
        n_trials=len(study.trials),
        n_complete=len(complete),
        n_pruned=sum(s == optuna.trial.TrialState.PRUNED for s in states),
        seconds=seconds,
        history=study.trials_dataframe(attrs=("number", "value", "state", "params", "duration")),
        model=model,
    )


def suggest(trial: Any, space: dict[str, SearchParam]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, param in space.items():
        if param.type == "categorical":
            values[name] = trial.suggest_categorical(name, param.choices)
        elif param.type == "int":
            low, high = int(param.low or 0), int(param.high or 0)
            values[name] = trial.suggest_int(name, low, high, log=param.log)
        else:
            values[name] = trial.suggest_float(
                name, float(param.low or 0), float(param.high or 0), log=param.log
            )
    return values


def _fit_reporting(
    family: CandidateFamily,
    model: Any,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    trial: Any,
) -> float:
    from sklearn.metrics import roc_auc_score

    x_val, y_val = validation
    if family == "xgboost":
        model.set_params(callbacks=[_XGBoostPruning(trial)])
        model.fit(*train, eval_set=[validation], verbose=False)
        model.set_params(callbacks=None)
    elif family == "hist_gradient_boosting":
        total = model.get_params()["max_iter"]
        model.set_params(warm_start=True)
        for step, iterations in enumerate(range(HGB_STEP, total + HGB_STEP, HGB_STEP)):
            model.set_params(max_iter=min(iterations, total))
            model.fit(*train)
            _report(trial, roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]), step)
        model.set_params(warm_start=False)
    else:
        model.fit(*train)
    return float(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))


def _report(trial: Any, value: float, step: int) -> None:
    import optuna

    trial.report(float(value), step)
    if trial.should_prune():
        raise optuna.TrialPruned(f"validation AUC {value:.4f} at step {step}")


class _XGBoostPruning(TrainingCallback):
    """Reports validation AUC after each boosting round; stops a trial that falls behind."""

    def __init__(self, trial: Any) -> None:
        super().__init__()
        self.trial = trial

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        auc = evals_log["validation_0"]["auc"][-1]
        _report(self.trial, float(auc), epoch)
        return False

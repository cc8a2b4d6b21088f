"""Optuna tuning of one candidate family on the validation window, with pruning.

The objective is the problem type's primary metric (ROC AUC, one-vs-rest ROC AUC, RMSE)
in its direction. Boosted models report as they grow, so the median pruner can stop a
trial that is already behind: XGBoost after every round (its own validation metric: AUC
for binary, the log loss for multiclass, the RMSE on the fitted scale for regression;
oriented like the study), hist-gradient-boosting every 25 iterations (the primary
metric); other families report once. A trial is judged only once it has grown
`prune_after_fraction` of its rounds: on its first rounds a low learning rate is always
behind, and pruning there kept only the fast learners (in the issue 20 run, 9 of 12
XGBoost trials pruned, the best one trial 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from xgboost.callback import TrainingCallback

from .candidates import build_model
from .config.models import CandidateConfig, SearchParam, TuningConfig
from .feature_spec import FeatureSpec
from .problems import Problem
from .problems.binary import BinaryProblem

HGB_STEP = 25


@dataclass
class TuningResult:
    family: str
    best_params: dict[str, Any]
    best_value: float
    n_trials: int
    n_complete: int
    n_pruned: int
    seconds: float
    history: pd.DataFrame
    model: Any
    # The safety-net timeout stopped the study before its `n_trials`.
    timed_out: bool = False


def tune_candidate(
    family: str,
    candidate: CandidateConfig,
    tuning: TuningConfig,
    spec: FeatureSpec,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    seed: int,
    study_name: str,
    problem: Problem | None = None,
    validation_truth: np.ndarray | None = None,
) -> TuningResult:
    """Tune with seeded TPE, refit the best parameters on the training window.

    `train` and `validation` hold the labels as the model is fitted on them;
    `validation_truth` the labels the metric compares with (the same unless the target is
    transformed). Without a problem, binary classification."""
    import optuna

    problem = problem or BinaryProblem()
    truth = validation[1] if validation_truth is None else validation_truth
    judge = _Judge(problem, validation[0], truth)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=_storage(tuning.storage),
        load_if_exists=tuning.storage is not None,
        direction="maximize" if problem.primary.greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=3, n_warmup_steps=tuning.pruning_warmup_steps
        ),
    )

    def objective(trial: optuna.Trial) -> float:
        params = {**candidate.params, **suggest(trial, candidate.search_space)}
        model = build_model(family, params, spec, seed, problem.kind)
        return _fit_reporting(
            family, model, train, validation, trial, judge, tuning.prune_after_fraction
        )

    begun = time.perf_counter()
    study.optimize(objective, n_trials=tuning.n_trials, timeout=tuning.timeout_seconds)
    seconds = time.perf_counter() - begun
    states = [t.state for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"{family}: no trial completed in {seconds:.0f} s; raise the budget")
    best_params = {**candidate.params, **study.best_trial.params}
    model = build_model(family, best_params, spec, seed, problem.kind)
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
        timed_out=tuning.timeout_seconds is not None and len(study.trials) < tuning.n_trials,
    )


def _storage(url: str | None, attempts: int = 5) -> Any:
    """Optuna's RDB storage of a shared study, or None (in memory). Processes that open a
    new database at the same moment race to create Optuna's tables, and all but one fail
    on a duplicate key: they try again, and find the tables made."""
    if url is None:
        return None
    import optuna
    import sqlalchemy

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except sqlalchemy.exc.IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


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


@dataclass(frozen=True)
class _Judge:
    """Scores a fitted model on the validation rows with the problem's primary metric."""

    problem: Problem
    matrix: pd.DataFrame
    truth: np.ndarray

    def __call__(self, model: Any) -> float:
        value = self.problem.score(self.truth, self.problem.predict(model, self.matrix))
        if value is None:
            raise ValueError(f"validation {self.problem.primary.name} is undefined")
        return float(value)


def _fit_reporting(
    family: str,
    model: Any,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    trial: Any,
    judge: _Judge,
    prune_after: float = 0.0,
) -> float:
    """Fit `model`, reporting to `trial` as it grows; pruned (optuna.TrialPruned) only from
    the `prune_after` share of its rounds on."""
    if family == "xgboost":
        maximize = judge.problem.primary.greater_is_better
        first = int(prune_after * model.get_num_boosting_rounds())  # its default when unset
        model.set_params(callbacks=[XGBoostPruning(trial, maximize, first)])
        model.fit(*train, eval_set=[validation], verbose=False)
        model.set_params(callbacks=None)
    elif family == "hist_gradient_boosting":
        # The booster itself, or the last step of its pipeline (wide categories as codes).
        booster = model.steps[-1][1] if hasattr(model, "steps") else model
        total = booster.get_params()["max_iter"]
        steps = range(HGB_STEP, total + HGB_STEP, HGB_STEP)
        first = int(prune_after * len(steps))
        booster.set_params(warm_start=True)
        for step, iterations in enumerate(steps):
            booster.set_params(max_iter=min(iterations, total))
            model.fit(*train)
            report(trial, judge(model), step, step >= first)
        booster.set_params(warm_start=False)
    else:
        model.fit(*train)
    return judge(model)


def report(trial: Any, value: float, step: int, may_prune: bool = True) -> None:
    """Report `value` at `step`; prune when allowed and the pruner says so."""
    import optuna

    trial.report(float(value), step)
    if may_prune and trial.should_prune():
        raise optuna.TrialPruned(f"validation score {value:.4f} at step {step}")


class XGBoostPruning(TrainingCallback):
    """Reports XGBoost's validation metric after each boosting round, oriented like the
    study (negated where the two directions differ); from round `first` on, stops a trial
    that falls behind."""

    def __init__(self, trial: Any, maximize: bool, first: int = 0) -> None:
        super().__init__()
        self.trial = trial
        self.maximize = maximize
        self.first = first

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        name, values = next(iter(evals_log["validation_0"].items()))
        value = float(values[-1])
        grows_better = name == "auc"
        oriented = value if grows_better == self.maximize else -value
        report(self.trial, oriented, epoch, epoch >= self.first)
        return False

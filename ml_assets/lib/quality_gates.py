"""Quality gates a challenger must pass before a champion decision is even taken.

The baselines are deliberately untuned: a constant (the majority class, ROC AUC 0.5 by
construction; the class shares; the training mean) and a default-parameter linear model
(logistic regression, or ridge for regression) fitted on the training window. A tuned model
that cannot beat them on validation is broken, not unlucky. Their config names
(`majority_class`, `default_logistic_regression`) stand for these for every problem type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .feature_spec import FeatureSpec
from .problems import PrimaryMetric, Problem, ProblemKind

MAJORITY = "majority_class"
LOGISTIC = "default_logistic_regression"
BEATS = "beats_baselines"
AUC = PrimaryMetric("roc_auc", greater_is_better=True)


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    description: str


def baseline_scores(
    problem: Problem,
    spec: FeatureSpec,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    truth: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> dict[str, float]:
    """Validation score (the primary metric) of each baseline, NaN where undefined.

    `train`/`validation` carry the labels as the model is fitted on them, `truth` the
    (train, validation) labels metrics compare with. The constant baseline predicts the
    training majority class / class shares / mean; the linear one is a default-parameter
    logistic regression (classification) or ridge (regression).
    """
    from .candidates import build_model

    train_truth, validation_truth = truth
    if problem.kind == ProblemKind.BINARY and len(np.unique(validation_truth)) < 2:
        return {MAJORITY: float("nan"), LOGISTIC: float("nan")}
    linear_family = "ridge" if problem.kind == ProblemKind.REGRESSION else "logistic_regression"
    linear = build_model(linear_family, {}, spec, seed, problem.kind).fit(*train)
    linear_score = problem.score(validation_truth, problem.predict(linear, validation[0]))
    if problem.kind == ProblemKind.BINARY:
        constant: float | None = 0.5  # a constant score ranks nothing
    else:
        constant = problem.score(
            validation_truth, problem.baseline(train_truth, len(validation_truth))
        )
    return {MAJORITY: _nan_if_none(constant), LOGISTIC: _nan_if_none(linear_score)}


def beats_baselines(
    challenger: float, baselines: dict[str, float], metric: PrimaryMetric = AUC
) -> GateResult:
    """The challenger's validation score is better than the constant baseline's (which
    predicts nothing) and at least as good as a fitted baseline's (a tuned family may
    settle on the baseline's own parameters, which is no failure)."""
    losses = [
        f"{name} {score:.4f}"
        for name, score in baselines.items()
        if np.isnan(score)
        or not (
            metric.gain(challenger, score) > 0
            if name == MAJORITY
            else metric.gain(challenger, score) >= 0
        )
    ]
    shown = ", ".join(f"{n} {s:.4f}" for n, s in baselines.items()) or "no baseline required"
    if np.isnan(challenger):
        return GateResult(BEATS, False, f"challenger validation {metric.name} is undefined")
    if losses:
        return GateResult(
            BEATS,
            False,
            f"challenger {metric.name} {challenger:.4f} does not beat: {', '.join(losses)}",
        )
    return GateResult(BEATS, True, f"challenger {metric.name} {challenger:.4f} beats {shown}")


def clears_floor(challenger: float, floor: float | None, metric: PrimaryMetric = AUC) -> GateResult:
    """The challenger's validation score is at or better than the configured floor, if any."""
    if floor is None:
        return GateResult("clears_floor", True, "no floor configured")
    passed = bool(metric.gain(challenger, floor) >= 0)
    verb = "clears" if passed else "misses"
    return GateResult(
        "clears_floor", passed, f"{metric.name} {challenger:.4f} {verb} the floor {floor}"
    )


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)

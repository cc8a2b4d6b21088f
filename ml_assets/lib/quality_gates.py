"""Quality gates a challenger must pass before a champion decision is even taken.

The baselines are deliberately untuned: the majority class (ROC AUC 0.5 by construction:
a constant score ranks nothing) and a default-parameter logistic regression fitted on the
training window. A tuned model that cannot beat them on validation is broken, not unlucky.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .feature_spec import FeatureSpec

MAJORITY = "majority_class"
LOGISTIC = "default_logistic_regression"


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    description: str


def baseline_scores(
    spec: FeatureSpec,
    train: tuple[pd.DataFrame, np.ndarray],
    validation: tuple[pd.DataFrame, np.ndarray],
    seed: int,
) -> dict[str, float]:
    """Validation ROC AUC of each baseline (NaN when validation has a single class)."""
    from sklearn.metrics import roc_auc_score

    from .candidates import build_model

    y_validation = validation[1]
    if len(np.unique(y_validation)) < 2:
        return {MAJORITY: float("nan"), LOGISTIC: float("nan")}
    logistic = build_model("logistic_regression", {}, spec, seed).fit(*train)
    scores = logistic.predict_proba(validation[0])[:, 1]
    return {MAJORITY: 0.5, LOGISTIC: float(roc_auc_score(y_validation, scores))}


def beats_baselines(challenger_auc: float, baselines: dict[str, float]) -> GateResult:
    """The challenger's validation ROC AUC is above the majority class's (0.5: ranking
    nothing) and at least a fitted baseline's (a tuned family may settle on the baseline's
    own parameters, which is no failure)."""
    losses = [
        f"{name} {score:.4f}"
        for name, score in baselines.items()
        if np.isnan(score)
        or not (challenger_auc > score if name == MAJORITY else challenger_auc >= score)
    ]
    shown = ", ".join(f"{n} {s:.4f}" for n, s in baselines.items()) or "no baseline required"
    if np.isnan(challenger_auc):
        return GateResult("beats_baselines", False, "challenger validation ROC AUC is undefined")
    if losses:
        return GateResult(
            "beats_baselines",
            False,
            f"challenger {challenger_auc:.4f} does not beat: {', '.join(losses)}",
        )
    return GateResult("beats_baselines", True, f"challenger {challenger_auc:.4f} beats {shown}")


def clears_floor(challenger_auc: float, floor: float | None) -> GateResult:
    """The challenger's validation ROC AUC is at or above the configured floor, if any."""
    if floor is None:
        return GateResult("clears_floor", True, "no floor configured")
    passed = bool(challenger_auc >= floor)
    verb = "clears" if passed else "is below"
    return GateResult("clears_floor", passed, f"{challenger_auc:.4f} {verb} the floor {floor}")

"""A stacking ensemble of a training's tuned candidates.

The tuned scikit-learn candidates (XGBoost is left out: a stack is saved with skops, and
XGBoost models are only ever saved in their own format) are refit inside a scikit-learn
stacking estimator whose final model learns from their out-of-fold predictions on the
training window. The folds are contiguous blocks of the training rows in their order
(KFold without shuffling), so the final model never sees predictions made by a base
model fitted on the same rows; the validation and test windows stay unseen, and the stack
is judged on validation like every other candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .artifacts import model_flavor
from .problems import ProblemKind

FOLDS = 5


def build_stacking(tuned: Mapping[str, Any], kind: ProblemKind, seed: int) -> Any:
    """An unfitted stack of (clones of) the tuned scikit-learn models in `tuned`."""
    from sklearn.base import clone
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold

    members = [
        (family, clone(model))
        for family, model in tuned.items()
        if model_flavor(model) == "sklearn"
    ]
    if len(members) < 2:
        raise ValueError(
            "stacking needs at least two other scikit-learn candidates enabled "
            f"(xgboost cannot be stacked); this training has {[f for f, _ in members]}"
        )
    folds = KFold(FOLDS, shuffle=False)
    if kind == ProblemKind.REGRESSION:
        return StackingRegressor(members, final_estimator=RidgeCV(), cv=folds)
    final = LogisticRegression(max_iter=2000, random_state=seed)
    return StackingClassifier(
        members, final_estimator=final, cv=folds, stack_method="predict_proba"
    )

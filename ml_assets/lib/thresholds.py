"""The decision threshold: chosen on the validation window for a stated objective.

A probability becomes a label at the threshold that serves the objective best on rows no
training saw: `f1` (the harmonic mean of precision and recall of the positive class) or
`cost` (the expected cost of false positives and false negatives at given unit costs).
The choice, the objective's value and the curve it came from are kept with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

Objective = Literal["f1", "cost"]
FALLBACK = 0.5
MAX_CANDIDATES = 512


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    objective: Objective
    value: float | None  # the objective at the threshold (F1, or cost per row)
    reason: str
    curve: pd.DataFrame  # columns threshold, objective: what the choice was made on


def positive_scores(model: object, matrix: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class from a fitted scikit-learn style classifier."""
    proba = np.asarray(model.predict_proba(matrix), dtype="float64")  # type: ignore[attr-defined]
    classes = list(getattr(model, "classes_", [0, 1]))
    return proba[:, classes.index(1)]


def choose_threshold(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    objective: Objective = "f1",
    false_positive_cost: float = 1.0,
    false_negative_cost: float = 1.0,
) -> ThresholdChoice:
    """The threshold that maximises F1 or minimises the expected cost on (y, p).

    Every distinct score is a candidate (a row is positive when its probability is at
    or above the threshold), counted in one pass over the sorted scores; the curve kept
    for the UI has at most `MAX_CANDIDATES` points. With one class only, or no rows, the
    choice falls back to 0.5 and says why.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype="float64")
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    if len(y) == 0 or y.min() == y.max():
        why = "no rows" if len(y) == 0 else "a single class"
        empty = pd.DataFrame({"threshold": [], "objective": []}, dtype=float)
        return ThresholdChoice(
            FALLBACK, objective, None, f"validation has {why}: fallback {FALLBACK}", empty
        )
    order = np.argsort(-p, kind="stable")
    descending, labels = p[order], y[order]
    # The last row of each run of equal scores: predicting positive down to there is
    # predicting positive at threshold = that score.
    last = np.r_[np.flatnonzero(np.diff(descending)), len(descending) - 1]
    candidates = descending[last]
    tp = np.cumsum(labels)[last]
    fp = (last + 1) - tp
    fn = int(labels.sum()) - tp
    if objective == "f1":
        values = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        best = int(np.argmax(values))
        label = "F1"
    else:
        values = (false_positive_cost * fp + false_negative_cost * fn) / len(y)
        best = int(np.argmin(values))
        label = (
            f"cost per row (false positive {false_positive_cost:g}, "
            f"false negative {false_negative_cost:g})"
        )
    threshold = float(candidates[best])
    shown = np.unique(np.linspace(0, len(candidates) - 1, MAX_CANDIDATES).round().astype(int))
    curve = pd.DataFrame({"threshold": candidates[shown], "objective": values[shown]})
    return ThresholdChoice(
        threshold,
        objective,
        float(values[best]),
        f"{label} {values[best]:.4f} at threshold {threshold:.4f} on {len(y):,} validation rows",
        curve,
    )

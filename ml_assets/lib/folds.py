"""Rolling-origin validation: how a tuned candidate holds up on earlier windows than the
one it was tuned on, and the rule that ranks candidates over all of them.

One validation window can fool selection: a family that happens to suit those three weeks
wins, then loses on test. With `validation_folds: k`, the k - 1 windows before the
validation window (each as long as it) are scored too, each by the candidate's tuned
parameters refit on the training days before that window; the candidate is then ranked by
its mean or its worst fold (`selection`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .problems.base import PrimaryMetric
from .split import TemporalSplit, Window, rolling_folds


@dataclass(frozen=True)
class Fold:
    """One earlier validation window: the rows to fit on, the rows to score, the truth."""

    window: Window
    train: tuple[Any, Any]  # matrix, labels as the model is fitted on them
    validation: tuple[Any, Any]
    truth: Any  # the labels metrics compare with


def earlier_folds(
    training_set: pd.DataFrame,
    columns: tuple[str, str],
    folds: int,
    frames: Callable[[pd.DataFrame], tuple[tuple[Any, Any], Any]],
) -> list[Fold]:
    """The `folds - 1` windows before the validation window, oldest first. `columns` names
    the day and window columns; `frames(rows)` gives ((matrix, fitted labels), truth)."""
    if folds <= 1:
        return []
    day_column, window_column = columns
    days = pd.to_datetime(training_set[day_column]).dt.date
    span = {
        name: Window(min(days[rows]), max(days[rows]))
        for name, rows in (
            (n, training_set[window_column] == n) for n in ("train", "validation", "test")
        )
    }
    split = TemporalSplit(span["train"], span["validation"], span["test"])
    found = []
    for train_window, fold in rolling_folds(split, folds)[:-1]:
        fit_rows = training_set[_within(days, train_window)]
        fold_rows = training_set[_within(days, fold)]
        fitted, _ = frames(fit_rows)
        scored, truth = frames(fold_rows)
        found.append(Fold(fold, fitted, scored, truth))
    return found


def _within(days: pd.Series, window: Window) -> pd.Series:
    start: date = window.start
    return (days >= start) & (days <= window.end)


def selection_score(scores: list[float], rule: str, metric: PrimaryMetric) -> float:
    """A candidate's score over its folds: the mean, or the worst fold."""
    values = np.asarray(scores, dtype="float64")
    if rule == "worst_fold":
        return float(values.min() if metric.greater_is_better else values.max())
    return float(values.mean())

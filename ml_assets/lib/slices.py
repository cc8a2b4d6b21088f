"""Metrics per slice (a value of a feature or entity column) for any problem type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .problems import Problem

MAX_VALUES = 20


def problem_slices(
    frame: pd.DataFrame,
    truth: np.ndarray,
    predictions: np.ndarray,
    columns: Sequence[str],
    problem: Problem,
) -> pd.DataFrame:
    """Rows and the primary metric per value of each column, its most frequent
    `MAX_VALUES` values first; the metric is None where a slice does not define it."""
    rows = []
    for column in columns:
        values = frame[column].astype("string").fillna("(missing)").to_numpy()
        counts = pd.Series(values).value_counts().head(MAX_VALUES)
        for value in counts.index:
            mask = values == value
            rows.append(
                {
                    "column": column,
                    "value": value,
                    "n": int(mask.sum()),
                    problem.primary.name: problem.score(truth[mask], predictions[mask]),
                }
            )
    return pd.DataFrame(rows, columns=["column", "value", "n", problem.primary.name])

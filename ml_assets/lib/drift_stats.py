"""One column's drift score, computed exactly as Evidently 0.7 computes it in a report.

The daily report runs Evidently's `DataDriftPreset`; calibration needs the same score for
thousands of samples, where a whole report per sample would take hours. Both go through
the frame preparation here, and `column_score` calls the stat test Evidently's report
calls for a column (`get_one_column_drift`: infinities and nulls dropped, the registered
test of the method for the column's type), so a calibrated threshold and a day's score
are on the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from .config.monitoring import DISTANCE_METHODS

ColumnKind = Literal["numerical", "categorical"]

# Evidently's stat tests by the column types they accept.
NUMERICAL_ONLY: frozenset[str] = frozenset({"wasserstein", "ks"})
CATEGORICAL_ONLY: frozenset[str] = frozenset({"chisquare", "z"})
# Evidently's own defaults, used for a column that could not be calibrated.
DEFAULT_DISTANCE = 0.1
DEFAULT_P_VALUE = 0.05


def is_drift(method: str, score: float, threshold: float) -> bool:
    """Distances drift at or above the threshold; p-values drift below it."""
    return score >= threshold if method in DISTANCE_METHODS else score < threshold


def default_threshold(method: str) -> float:
    """Evidently's threshold for `method` when none is configured or calibrated."""
    return DEFAULT_DISTANCE if method in DISTANCE_METHODS else DEFAULT_P_VALUE


def method_fits(method: str, kind: ColumnKind) -> bool:
    """Whether Evidently's test `method` can judge a column of this kind."""
    excluded = CATEGORICAL_ONLY if kind == "numerical" else NUMERICAL_ONLY
    return method not in excluded


def prepared(frame: pd.DataFrame, kinds: Mapping[str, ColumnKind]) -> pd.DataFrame:
    """Plain float and object columns: Evidently does not take pandas' nullable dtypes.

    A categorical column is compared as text whatever its dtype, and a whole number is
    written without a decimal part, so integer codes read as floats (a column with nulls)
    are the same categories as the same codes read as integers.
    """
    out = {}
    for column, kind in kinds.items():
        values = frame[column]
        if kind == "numerical":
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            out[column] = category_texts(values)
    return pd.DataFrame(out, index=frame.index)


def category_texts(values: pd.Series) -> pd.Series:
    """`category_text` of every value, computed once per distinct value."""
    codes, uniques = pd.factorize(values.astype("object"), use_na_sentinel=True)
    # The last entry answers the sentinel (-1) of a null.
    texts = np.array([*(category_text(u) for u in uniques), None], dtype=object)
    return pd.Series(texts[codes], index=values.index, dtype=object)


def category_text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def column_score(
    reference: pd.Series, current: pd.Series, kind: ColumnKind, method: str
) -> float | None:
    """Evidently's score of `method` for one prepared column; None when either side has no
    values or the test gives no finite number (e.g. a p-value of two constant samples)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    if kind == "numerical":
        ref, cur = _finite(reference), _finite(current)
    else:  # prepared categories are text: no infinities
        ref, cur = reference.dropna(), current.dropna()
    if ref.empty or cur.empty:
        return None
    column_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
    test = get_stattest(ref, cur, column_type, method)
    # The threshold only sets the test's own drifted flag, which is not used here.
    score = float(test(ref, cur, column_type, 0.5).drift_score)
    return score if math.isfinite(score) else None


def _finite(values: pd.Series) -> pd.Series:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(numbers[np.isfinite(numbers)])


def category_values(values: pd.Series) -> list[str]:
    """The distinct values of a categorical column as text (see `category_text`)."""
    texts = (category_text(value) for value in pd.unique(values.astype("object")))
    return sorted({text for text in texts if text is not None})


def unseen_categories(
    current: pd.DataFrame, reference: pd.DataFrame, columns: list[str], limit: int
) -> dict[str, list[str]]:
    """Per column, the categories of `current` the reference never had (at most `limit`)."""
    unseen = {}
    for column in columns:
        new = set(category_values(current[column].dropna())) - set(
            category_values(reference[column].dropna())
        )
        if new:
            unseen[column] = sorted(new)[:limit]
    return unseen

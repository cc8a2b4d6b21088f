"""Drift thresholds calibrated from a model's own training window.

A day's score against the reference is noisy: a day of 150 rows sits far from a
5,000-row reference when nothing has changed, and the rows of one day share its
conditions (the weather, a schedule), so whole days vary more than rows do. A threshold
copied from another data set therefore flags every day, or none. Here each column's
threshold is the score that days of the training window itself rarely reach: `resamples`
draws of one training day each (cut to the window's median rows per day), each scored
against the reference with the stat test that judges live days; the threshold is the
`quantile` of those distances (for p-value tests, the `1 - quantile` of the p-values).
Columns that cannot be calibrated say why, and never get a NaN.

How many columns drift at once is calibrated the same way: the drawn days are judged
with the thresholds the live days get, and the drifted share that only the worst
`1 - quantile` of them reach is the error share (at least one column), the
`warn_quantile` one the warning share. Columns of one day move together (a warm day
moves temperature and dew point), so a fixed share set for independent columns is
either deaf or noisy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config.monitoring import DISTANCE_METHODS, CalibrationConfig
from .drift_stats import (
    ColumnKind,
    column_score,
    default_threshold,
    is_drift,
    method_fits,
    prepared,
)

THRESHOLDS_FILE = "thresholds.json"
FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1 had no calibrated shares
# A column constant over the training window scores 0 on every day: any change drifts.
MIN_DISTANCE = 1e-6
MIN_P_VALUE = 1e-300


@dataclass(frozen=True)
class ColumnThreshold:
    """A calibrated threshold, or None and the reason it could not be calibrated."""

    kind: ColumnKind
    method: str
    threshold: float | None
    note: str = ""  # why it is not calibrated, or what to know about it
    samples: int = 0
    median_score: float | None = None


@dataclass(frozen=True)
class Calibration:
    quantile: float
    resamples: int
    day_rows: int
    days: int
    columns: dict[str, ColumnThreshold] = field(default_factory=dict)
    # Drifted shares of features that warn / are an error; None when not calibrated.
    share_warn: float | None = None
    share_error: float | None = None

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        data = json.loads(text)
        if data.pop("format", None) not in READABLE_FORMATS:
            raise ValueError(f"thresholds format unknown, expected one of {READABLE_FORMATS}")
        columns = {name: ColumnThreshold(**c) for name, c in data.pop("columns").items()}
        return cls(**data, columns=columns)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"column": name, **asdict(c)} for name, c in self.columns.items()],
            columns=["column", "kind", "method", "threshold", "median_score", "samples", "note"],
        )


def read_calibration(folder: Path) -> Calibration | None:
    """The calibration stored next to a reference profile; None for a reference built
    before thresholds were calibrated."""
    path = folder / THRESHOLDS_FILE
    return Calibration.from_json(path.read_text()) if path.is_file() else None


def typical_day_rows(days: pd.Series) -> int:
    """Median rows per day of a window, given each row's day."""
    counts = days.value_counts()
    return int(np.median(counts.to_numpy())) if len(counts) else 0


def calibration_pool(window: pd.DataFrame, reference_index: pd.Index) -> pd.DataFrame:
    """The window's rows outside the reference sample, so that a drawn day is not scored
    against its own rows; the whole window when the reference is most of it."""
    rest = window.drop(index=reference_index.intersection(window.index))
    return rest if len(rest) * 2 >= len(window) else window


def calibrate(
    reference: pd.DataFrame,
    pool: pd.DataFrame,
    day_column: str,
    tests: Mapping[str, tuple[ColumnKind, str]],
    settings: CalibrationConfig,
    *,
    day_rows: int,
    min_rows: int,
    seed: int,
    share_columns: Collection[str] = (),
    configured: Mapping[str, float] | None = None,
) -> Calibration:
    """Thresholds of the columns in `tests` (column -> kind and method) for `reference`.

    `pool` holds training-window rows with their day in `day_column`; days of fewer than
    `min_rows` rows are left out, as a live day that small gets no verdict. The drifted
    share is calibrated over `share_columns` (the features a verdict counts), each judged
    with its `configured` threshold where the config sets one, as live days are.
    """
    counts = pool[day_column].value_counts()
    usable = counts[counts >= min_rows]
    reason = _not_calibrated_reason(len(usable), day_rows, min_rows, settings.min_days)

    def uncalibrated(column: str, why: str) -> ColumnThreshold:
        kind, method = tests[column]
        return ColumnThreshold(kind, method, None, why)

    if reason:
        return Calibration(
            settings.quantile,
            0,
            day_rows,
            len(usable),
            {c: uncalibrated(c, reason) for c in tests},
        )
    samples = _day_samples(pool, day_column, list(usable.index), day_rows, settings, seed)
    kinds = {c: k for c, (k, _) in tests.items()}
    ref = prepared(reference, kinds)
    cur = prepared(pool, kinds)
    scores = {
        c: _scores(ref[c], cur[c], kind, method, samples) for c, (kind, method) in tests.items()
    }
    columns = {
        c: _column_threshold(scores[c], kind, method, len(samples), settings.quantile)
        for c, (kind, method) in tests.items()
    }
    judged = {c: (configured or {}).get(c, _threshold_used(columns[c])) for c in share_columns}
    shares = _drifted_shares({c: scores[c] for c in judged}, columns, judged, len(samples))
    warn, error = _share_thresholds(shares, settings, len(judged))
    return Calibration(settings.quantile, len(samples), day_rows, len(usable), columns, warn, error)


def _not_calibrated_reason(days: int, day_rows: int, min_rows: int, min_days: int) -> str:
    if day_rows < min_rows:
        return (
            f"a typical training day has {day_rows} rows, fewer than the {min_rows} "
            "a drift verdict needs"
        )
    if days < min_days:
        return f"{days} training day(s) of at least {min_rows} rows; calibration needs {min_days}"
    return ""


def _day_samples(
    pool: pd.DataFrame,
    day_column: str,
    days: list[Any],
    day_rows: int,
    settings: CalibrationConfig,
    seed: int,
) -> list[np.ndarray]:
    """Row positions of `resamples` draws: each one random day, cut to `day_rows` rows."""
    rng = np.random.default_rng(seed)
    positions = pd.Series(np.arange(len(pool))).groupby(pool[day_column].to_numpy()).indices
    samples: list[np.ndarray] = []
    for day in rng.choice(np.asarray(days, dtype=object), settings.resamples):
        rows = np.asarray(positions[day])
        if len(rows) > day_rows:
            rows = rng.choice(rows, day_rows, replace=False)
        samples.append(rows)
    return samples


def _scores(
    reference: pd.Series,
    pool: pd.Series,
    kind: ColumnKind,
    method: str,
    samples: list[np.ndarray],
) -> list[float | None] | str:
    """The column's score on each drawn day, or why it cannot be scored at all."""
    if not method_fits(method, kind):
        return f"{method} cannot judge a {kind} column"
    if reference.isna().all():
        return "the reference has no values"
    return [column_score(reference, pool.iloc[rows], kind, method) for rows in samples]


def _column_threshold(
    scores: list[float | None] | str,
    kind: ColumnKind,
    method: str,
    drawn: int,
    quantile: float,
) -> ColumnThreshold:
    def uncalibrated(reason: str, scored: int = 0) -> ColumnThreshold:
        return ColumnThreshold(kind, method, None, reason, scored)

    if isinstance(scores, str):
        return uncalibrated(scores)
    finite = np.asarray([s for s in scores if s is not None], dtype="float64")
    if finite.size < drawn / 2:
        return uncalibrated(
            f"only {finite.size} of {drawn} training days gave a score "
            "(values missing, or a test that gives no number on constant values)",
            int(finite.size),
        )
    distance = method in DISTANCE_METHODS
    value = float(np.quantile(finite, quantile if distance else 1 - quantile))
    threshold = max(value, MIN_DISTANCE if distance else MIN_P_VALUE)
    note = "" if value > 0 else "constant over the training window: any change drifts"
    median = float(np.median(finite))
    return ColumnThreshold(
        kind,
        method,
        _rounded(threshold),
        note,
        int(finite.size),
        _rounded(median) if math.isfinite(median) else None,
    )


def _threshold_used(column: ColumnThreshold) -> float:
    """The threshold a live day is judged with when the config sets none."""
    return column.threshold if column.threshold is not None else default_threshold(column.method)


def _drifted_shares(
    scores: Mapping[str, list[float | None] | str],
    columns: Mapping[str, ColumnThreshold],
    thresholds: Mapping[str, float],
    drawn: int,
) -> np.ndarray:
    """Per drawn day, the share of `thresholds`' columns whose score crosses it (a column
    without a score on that day does not count as drifted)."""
    drifted = np.zeros(drawn)
    for column, threshold in thresholds.items():
        method, column_scores = columns[column].method, scores[column]
        if isinstance(column_scores, str):
            continue
        drifted += [s is not None and is_drift(method, s, threshold) for s in column_scores]
    return drifted / max(len(thresholds), 1)


def _share_thresholds(
    shares: np.ndarray, settings: CalibrationConfig, columns: int
) -> tuple[float | None, float | None]:
    """Warning and error shares: the drifted share of the `warn_quantile` and `quantile`
    drawn day (an observed share, never interpolated), at least one column's worth."""
    if not columns or not shares.size:
        return None, None
    one_column = 1 / columns
    warn, error = (
        max(float(np.quantile(shares, q, method="higher")), one_column)
        for q in (settings.warn_quantile, settings.quantile)
    )
    return _rounded(warn), _rounded(error)


def _rounded(value: float) -> float:
    """Six significant digits: readable in a report, and never rounded to 0."""
    return float(f"{value:.6g}")

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
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config.monitoring import DISTANCE_METHODS, CalibrationConfig
from .drift_stats import ColumnKind, column_score, method_fits, prepared

THRESHOLDS_FILE = "thresholds.json"
FORMAT = 1
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

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"thresholds format {data.get('format')!r}, expected {FORMAT}")
        columns = {name: ColumnThreshold(**c) for name, c in data["columns"].items()}
        return cls(data["quantile"], data["resamples"], data["day_rows"], data["days"], columns)

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
) -> Calibration:
    """Thresholds of the columns in `tests` (column -> kind and method) for `reference`.

    `pool` holds training-window rows with their day in `day_column`; days of fewer than
    `min_rows` rows are left out, as a live day that small gets no verdict.
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
    columns = {
        c: _column_threshold(ref[c], cur[c], kind, method, samples, settings.quantile)
        for c, (kind, method) in tests.items()
    }
    return Calibration(settings.quantile, len(samples), day_rows, len(usable), columns)


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


def _column_threshold(
    reference: pd.Series,
    pool: pd.Series,
    kind: ColumnKind,
    method: str,
    samples: list[np.ndarray],
    quantile: float,
) -> ColumnThreshold:
    def uncalibrated(reason: str, scored: int = 0) -> ColumnThreshold:
        return ColumnThreshold(kind, method, None, reason, scored)

    if not method_fits(method, kind):
        return uncalibrated(f"{method} cannot judge a {kind} column")
    if reference.isna().all():
        return uncalibrated("the reference has no values")
    scores = [column_score(reference, pool.iloc[rows], kind, method) for rows in samples]
    finite = np.asarray([s for s in scores if s is not None], dtype="float64")
    if finite.size < len(samples) / 2:
        return uncalibrated(
            f"only {finite.size} of {len(samples)} training days gave a score "
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


def _rounded(value: float) -> float:
    """Six significant digits: readable in a report, and never rounded to 0."""
    return float(f"{value:.6g}")

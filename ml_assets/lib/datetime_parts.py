"""What the schema says about a datetime column beyond its type: the years it may take and
the columns that repeat its parts (`parts:` in the YAML).

The years come from the part columns' own bounds (a `year` column with `min: 2000,
max: 2100` bounds the datetime to those years in the parts' time zone); a datetime with no
bounded year column gets GENERIC_YEARS where a bound is needed (the service), none at
ingestion. Parts are read in their declared zone, naive datetimes being UTC as everywhere
else in the platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .config.models import ColumnSpec

# Outside these years a value sent for scoring is a client's error, never an event.
GENERIC_YEARS = (1900, 2199)


@dataclass(frozen=True)
class YearRange:
    """Years a datetime column may take, inclusive, read in `timezone`."""

    first: int
    last: int
    timezone: str
    origin: str

    def check(self, value: datetime) -> datetime:
        """`value` if its year is in range; ValueError naming the range otherwise."""
        try:
            year = _aware(value).astimezone(ZoneInfo(self.timezone)).year
        except OverflowError:  # year 1 or 9999 moved past datetime's own range
            year = value.year
        if not self.first <= year <= self.last:
            raise ValueError(
                f"year {year} is out of range: expected {self.first} to {self.last} ({self.origin})"
            )
        return value

    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first instant of the range and the first instant after it."""
        zone = ZoneInfo(self.timezone)
        return (
            pd.Timestamp(datetime(self.first, 1, 1, tzinfo=zone)),
            pd.Timestamp(datetime(self.last + 1, 1, 1, tzinfo=zone)),
        )


def schema_years(name: str, columns: Mapping[str, ColumnSpec]) -> YearRange | None:
    """The years the schema allows datetime column `name`, if its year column is bounded."""
    parts = columns[name].parts
    year = columns.get(parts.year) if parts and parts.year else None
    if parts is None or year is None or year.min is None or year.max is None:
        return None
    origin = f"the schema's '{parts.year}' column, in {parts.timezone}"
    return YearRange(int(year.min), int(year.max), parts.timezone, origin)


def serving_years(name: str, columns: Mapping[str, ColumnSpec]) -> YearRange:
    """The years a request may send for `name`: the schema's, else GENERIC_YEARS (UTC)."""
    first, last = GENERIC_YEARS
    return schema_years(name, columns) or YearRange(first, last, "UTC", "in UTC")


def record_disagreement(name: str, spec: ColumnSpec, record: Mapping[str, object]) -> str | None:
    """Why one record's part columns disagree with its datetime `name`, or None."""
    value = record.get(name)
    if spec.parts is None or not isinstance(value, datetime):
        return None
    local = _aware(value).astimezone(ZoneInfo(spec.parts.timezone))
    wrong = {
        column: (record[column], getattr(local, part))
        for part, column in spec.parts.columns.items()
        if record.get(column) is not None and record[column] != getattr(local, part)
    }
    return _disagreement(name, local, spec.parts.timezone, wrong) if wrong else None


def frame_disagreements(
    frame: pd.DataFrame, columns: Mapping[str, ColumnSpec], skip: set[tuple[int, str]]
) -> dict[int, str]:
    """Rows (by position) whose part columns disagree with a datetime they repeat.

    `frame` holds values coerced to the schema's types; a row already refused on one of
    the columns involved (`skip`: (row, column)) is left to that reason.
    """
    found: dict[int, str] = {}
    for name, spec in columns.items():
        if spec.parts is None or name not in frame:
            continue
        local = frame[name].dt.tz_convert(spec.parts.timezone)
        involved = [name, *spec.parts.columns.values()]
        # Per part column: where it disagrees, what it holds and what the datetime says.
        checks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for part, column in spec.parts.columns.items():
            expected = getattr(local.dt, part)
            differs = frame[column].notna() & local.notna() & (frame[column] != expected)
            checks[column] = (
                differs.fillna(False).to_numpy(dtype=bool),
                frame[column].to_numpy(dtype=object),
                expected.to_numpy(dtype=object),
            )
        wrong_rows = np.logical_or.reduce([differs for differs, _, _ in checks.values()])
        for row in map(int, np.flatnonzero(wrong_rows)):
            if any((row, column) in skip for column in involved):
                continue
            wrong = {
                column: (sent[row], int(expected[row]))
                for column, (differs, sent, expected) in checks.items()
                if differs[row]
            }
            moment = local.iat[row].to_pydatetime()
            found[row] = _disagreement(name, moment, spec.parts.timezone, wrong)
    return found


def disagreement_kind(text: str) -> str | None:
    """The countable kind of a disagreement text ('time_hour disagrees with hour')."""
    return text.split(" (", 1)[0] if " disagrees with " in text else None


def _disagreement(
    name: str, local: datetime, timezone: str, wrong: Mapping[str, tuple[object, int]]
) -> str:
    columns = ", ".join(wrong)
    sent = "; ".join(f"{column} is {sent}, not {want}" for column, (sent, want) in wrong.items())
    return f"{name} disagrees with {columns} ({sent}: {local:%Y-%m-%d %H:%M} in {timezone})"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

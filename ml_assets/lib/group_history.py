"""History features: what a group's past days say, known before each event.

A `GroupHistory` is fitted on the rows a model is fitted on and stored with the model's
feature spec. For an event on day D it reads the `days` days before D, never D itself (so
nothing of the event's own day or later can leak in); when D lies past the fitted days (at
serving, or on the test window) the window is the last `days` days the table holds, the
freshest history known. The same object computes the feature at training, evaluation and
serving time. Two statistics:

- `rate`: the group's target mean, shrunk towards the mean of all groups over the same
  days by `prior_rows` pseudo-events (a group seen on three events says little);
- `count`: the group's events a day, e.g. departures by origin and hour, as the schedule
  of the past days knows them; a group absent from the window has 0.

No history at all (an event on the first fitted day or before) gives NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd

KEY_SEPARATOR = "\x1f"  # joins a multi-column group's values into one key
Statistic = Literal["rate", "count"]


@dataclass(frozen=True)
class GroupHistory:
    group: tuple[str, ...]
    days: int
    prior_rows: float
    first_day: str
    keys: tuple[str, ...]
    counts: np.ndarray = field(repr=False)  # keys x days: events (labelled, for a rate)
    sums: np.ndarray = field(repr=False)  # keys x days: sum of the target (a rate's only)
    statistic: Statistic = "rate"

    @classmethod
    def fit(
        cls,
        groups: Sequence[pd.Series],
        event_days: pd.Series,
        target: pd.Series | None,
        *,
        group: Sequence[str],
        days: int,
        prior_rows: float = 0.0,
        statistic: Statistic = "rate",
    ) -> GroupHistory:
        """Count events and sum the target by group key and day. Rows without a day or a
        complete key do not count, nor do unlabelled rows for a rate; a count needs no
        target."""
        day = _days(event_days)
        if statistic == "count":
            values = pd.Series(np.ones(len(day)))
        elif target is None:
            raise ValueError("a rate needs the target")
        else:
            values = pd.to_numeric(pd.Series(np.asarray(target, dtype=object)), errors="coerce")
        key = group_keys(groups)
        known = ~np.isnat(day) & values.notna().to_numpy() & key.notna().to_numpy()
        if not known.any():
            what = "labelled rows" if statistic == "rate" else "rows"
            raise ValueError(f"no {what} with a day and {'/'.join(group)} to fit on")
        first, last = day[known].min(), day[known].max()
        width = int((last - first).astype("int64")) + 1
        frame = pd.DataFrame(
            {
                "key": key[known].to_numpy(),
                "day": (day[known] - first).astype("int64"),
                "value": values[known].astype("float64").to_numpy(),
            }
        )
        keys = tuple(sorted(frame["key"].unique()))
        row = pd.Index(keys).get_indexer(frame["key"])
        counts = np.zeros((len(keys), width))
        sums = np.zeros((len(keys), width))
        np.add.at(counts, (row, frame["day"].to_numpy()), 1.0)
        np.add.at(sums, (row, frame["day"].to_numpy()), frame["value"].to_numpy())
        return cls(tuple(group), days, prior_rows, str(first), keys, counts, sums, statistic)

    @property
    def last_day(self) -> np.datetime64:
        return np.datetime64(self.first_day, "D") + np.timedelta64(self.counts.shape[1] - 1, "D")

    def transform(
        self, groups: Sequence[pd.Series], event_days: pd.Series | np.ndarray
    ) -> np.ndarray:
        """The feature for each row: its group's statistic over the `days` days before its
        day (clipped to the fitted days); a missing day reads the latest days."""
        day = _days(event_days)
        width = self.counts.shape[1]
        since_first = (day - np.datetime64(self.first_day, "D")).astype("int64")
        offset = np.where(np.isnat(day), width, since_first)
        upper = np.minimum(offset - 1, width - 1)  # the last day counted
        lower = np.maximum(upper - self.days + 1, 0)
        has_days = upper >= 0
        upper_c, lower_c = np.maximum(upper, -1) + 1, np.minimum(lower, upper + 1)
        if self.statistic == "count":
            return self._daily_counts(groups, upper_c, lower_c, has_days)
        total_n = self._all_counts[upper_c] - self._all_counts[lower_c]
        total_s = self._all_sums[upper_c] - self._all_sums[lower_c]
        with np.errstate(invalid="ignore", divide="ignore"):
            prior = np.where(total_n > 0, total_s / total_n, np.nan)
        row = self._rows(groups)
        seen = row >= 0
        n = np.zeros(len(day))
        s = np.zeros(len(day))
        r = row[seen]
        n[seen] = self._counts[r, upper_c[seen]] - self._counts[r, lower_c[seen]]
        s[seen] = self._sums[r, upper_c[seen]] - self._sums[r, lower_c[seen]]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (s + self.prior_rows * prior) / (n + self.prior_rows)
            rate = np.where(self.prior_rows > 0, rate, np.where(n > 0, s / n, prior))
        return np.where(has_days, rate, np.nan)

    def _daily_counts(
        self,
        groups: Sequence[pd.Series],
        upper_c: np.ndarray,
        lower_c: np.ndarray,
        has_days: np.ndarray,
    ) -> np.ndarray:
        """Events a day of each row's group over its window; 0 for a group never seen."""
        row = self._rows(groups)
        seen = row >= 0
        n = np.zeros(len(row))
        n[seen] = self._counts[row[seen], upper_c[seen]] - self._counts[row[seen], lower_c[seen]]
        with np.errstate(invalid="ignore", divide="ignore"):
            daily = n / (upper_c - lower_c)
        complete = group_keys(groups).notna().to_numpy()
        return np.where(has_days & complete, daily, np.nan)

    def _rows(self, groups: Sequence[pd.Series]) -> np.ndarray:
        """Each row's position in the table's keys; -1 for an unseen or incomplete key."""
        return pd.Index(self.keys).get_indexer(pd.Index(group_keys(groups).to_numpy(dtype=object)))

    @cached_property
    def _counts(self) -> np.ndarray:
        """Cumulative counts with a leading zero column: a window's total is one subtraction."""
        return _cumulative(self.counts)

    @cached_property
    def _sums(self) -> np.ndarray:
        return _cumulative(self.sums)

    @cached_property
    def _all_counts(self) -> np.ndarray:
        return _cumulative(self.counts.sum(axis=0, keepdims=True))[0]

    @cached_property
    def _all_sums(self) -> np.ndarray:
        return _cumulative(self.sums.sum(axis=0, keepdims=True))[0]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "group": list(self.group),
            "days": self.days,
            "prior_rows": self.prior_rows,
            "first_day": self.first_day,
            "keys": list(self.keys),
            "counts": self.counts.astype("int64").tolist(),
        }
        if self.statistic == "count":
            return out | {"statistic": "count"}  # its sums are its counts
        return out | {"sums": self.sums.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupHistory:
        keys = tuple(str(k) for k in data["keys"])
        width = len(data["counts"][0]) if keys else 0
        statistic = data.get("statistic", "rate")
        counts = np.asarray(data["counts"], dtype="float64").reshape(len(keys), width)
        sums = counts if statistic == "count" else data["sums"]
        return cls(
            group=tuple(data["group"]),
            days=int(data["days"]),
            prior_rows=float(data["prior_rows"]),
            first_day=str(data["first_day"]),
            keys=keys,
            counts=counts,
            sums=np.asarray(sums, dtype="float64").reshape(len(keys), width),
            statistic=statistic,
        )


def group_keys(groups: Sequence[pd.Series]) -> pd.Series:
    """One text key per row from the group's columns; missing where any part is missing."""
    parts = [_text(pd.Series(g).reset_index(drop=True)) for g in groups]
    key = parts[0]
    for part in parts[1:]:
        key = key + KEY_SEPARATOR + part
    return key


def _text(values: pd.Series) -> pd.Series:
    """Values as text, whole numbers without a decimal point whatever their dtype (an int
    column read as float at serving must find its training key)."""
    if pd.api.types.is_float_dtype(values.dtype):
        known = values.dropna()
        if (known == np.floor(known)).all():
            values = values.astype("Int64")
    return values.astype("string")


def _days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Days as datetime64[D] from `YYYY-MM-DD` text or dates; NaT where missing."""
    return pd.to_datetime(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(
        dtype="datetime64[D]"
    )


def _cumulative(table: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((table.shape[0], 1)), np.cumsum(table, axis=1)], axis=1)

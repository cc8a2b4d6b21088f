"""Holidays from a calendar and each day's distance to the nearest one.

The `holidays` package knows the public holidays of most countries and their subdivisions
for any year, offline; a pipeline may also list its own dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache

import numpy as np


class CalendarError(ValueError):
    """A calendar the `holidays` package does not know."""


def check_calendar(country: str, subdivision: str | None) -> None:
    """Raise CalendarError naming the unknown country or subdivision (and what exists)."""
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise CalendarError(f"unknown country {country!r}: use an ISO 3166-1 alpha-2 code")
    if subdivision is not None and subdivision not in supported[country]:
        known = ", ".join(supported[country]) or "none"
        raise CalendarError(f"{country} has no subdivision {subdivision!r} (it has: {known})")


def country_holidays(
    country: str, subdivision: str | None, years: Iterable[int]
) -> tuple[dt.date, ...]:
    """The public holidays of `country` (and `subdivision`) in `years`, sorted. Cached:
    serving asks for the same years on every request."""
    return _country_holidays(country, subdivision, tuple(sorted(set(years))))


@lru_cache(maxsize=64)
def _country_holidays(
    country: str, subdivision: str | None, years: tuple[int, ...]
) -> tuple[dt.date, ...]:
    import holidays

    return tuple(sorted(holidays.country_holidays(country, subdiv=subdivision, years=years)))


def years_around(days: np.ndarray) -> list[int]:
    """The years of `days` (datetime64[D], NaT ignored) and one either side, so that a day
    near new year sees the nearest holiday across it."""
    known = days[~np.isnat(days)]
    if not len(known):
        return []
    years = known.astype("datetime64[Y]").astype("int64") + 1970
    return list(range(int(years.min()) - 1, int(years.max()) + 2))


def days_from_nearest(days: np.ndarray, holidays: Iterable[dt.date], max_days: int) -> np.ndarray:
    """Signed days from each day (datetime64[D]) to its nearest holiday: negative before
    it, 0 on it, positive after; the earlier holiday wins a tie; clipped to +-max_days;
    NaN for a missing day or when there is no holiday at all."""
    out = np.full(len(days), np.nan)
    marks = np.unique(np.array(sorted(holidays), dtype="datetime64[D]").astype("int64"))
    known = ~np.isnat(days)
    if not len(marks) or not known.any():
        return out
    day = days[known].astype("int64")
    after = np.searchsorted(marks, day, side="left")  # first holiday on or after the day
    nxt = marks[np.minimum(after, len(marks) - 1)]
    prev = marks[np.maximum(after - 1, 0)]
    since = np.where(after > 0, day - prev, np.iinfo("int64").max)
    until = np.where(after < len(marks), nxt - day, np.iinfo("int64").max)
    signed = np.where(until < since, -until, since)
    out[known] = np.clip(signed, -max_days, max_days)
    return out

"""Tier 1: the years a datetime column may take and the agreement of the columns that repeat
its parts (ml_assets/lib/datetime_parts.py)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ml_assets.lib.config.columns import ColumnSpec, DatetimeParts
from ml_assets.lib.datetime_parts import (
    GENERIC_YEARS,
    YearRange,
    record_disagreement,
    schema_years,
    serving_years,
)

PARTS = DatetimeParts(timezone="America/New_York", year="y", month="m", day="d", hour="h")
SCHEMA = {
    "at": ColumnSpec(type="datetime", parts=PARTS),
    "y": ColumnSpec(type="int", min=2000, max=2100),
    "m": ColumnSpec(type="int"),
    "d": ColumnSpec(type="int"),
    "h": ColumnSpec(type="int"),
}


def test_the_year_columns_bounds_are_the_datetimes_years_in_its_zone() -> None:
    years = schema_years("at", SCHEMA)
    assert years is not None and (years.first, years.last) == (2000, 2100)
    first, after = years.bounds()
    assert first.isoformat() == "2000-01-01T00:00:00-05:00"
    assert after.isoformat() == "2101-01-01T00:00:00-05:00"
    # 2000-01-01 03:00 UTC is still 1999 in New York.
    with pytest.raises(ValueError, match="year 1999 is out of range: expected 2000 to 2100"):
        years.check(datetime(2000, 1, 1, 3, tzinfo=UTC))
    assert years.check(datetime(2000, 1, 1, 6, tzinfo=UTC))


def test_without_a_bounded_year_column_requests_get_the_generic_years() -> None:
    unbounded = SCHEMA | {"y": ColumnSpec(type="int")}
    assert schema_years("at", unbounded) is None
    generic = serving_years("at", unbounded)
    assert (generic.first, generic.last, generic.timezone) == (*GENERIC_YEARS, "UTC")


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize("moment", [datetime(1, 1, 1), datetime(9999, 12, 31, 23)])
def test_the_ends_of_datetimes_range_are_out_of_range_not_an_overflow(
    zone: str, moment: datetime
) -> None:
    """Moved into a zone behind (or ahead of) UTC, year 1 (9999) leaves datetime's range."""
    with pytest.raises(ValueError, match=f"year {moment.year} is out of range"):
        YearRange(2000, 2100, zone, "test").check(moment.replace(tzinfo=UTC))


def test_parts_are_read_in_their_zone_and_naive_times_are_utc() -> None:
    spec = SCHEMA["at"]
    evening = {"y": 2013, "m": 7, "d": 1, "h": 19}
    for at in (
        datetime(2013, 7, 1, 23, tzinfo=UTC),
        datetime(2013, 7, 1, 23),
        datetime(2013, 7, 1, 19, tzinfo=timezone(timedelta(hours=-4))),
    ):
        assert record_disagreement("at", spec, evening | {"at": at}) is None
    wrong = record_disagreement("at", spec, evening | {"h": 23, "at": datetime(2013, 7, 1, 23)})
    assert wrong == "at disagrees with h (h is 23, not 19: 2013-07-01 19:00 in America/New_York)"
    # A part left out (nullable, not sent) is not judged.
    assert record_disagreement("at", spec, {"y": 2013, "at": datetime(2013, 7, 1, 23)}) is None

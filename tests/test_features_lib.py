"""Tier 1: feature ops, joins and the label, as plain functions."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config.models import (
    AgeFeature,
    BinaryTarget,
    BucketFeature,
    DatetimePartFeature,
    HhmmToMinutesFeature,
    HolidayCalendar,
    HolidayDistanceFeature,
    IsMissingFeature,
    JoinConfig,
    Log1pFeature,
    RatioFeature,
)
from ml_assets.lib.features import compute_feature, compute_target, feature_kinds, join_references
from ml_assets.lib.holiday_calendar import days_from_nearest

TIMES = pd.Series(pd.to_datetime(["2013-01-05T13:00:00Z", "2013-07-01T03:30:00Z", None], utc=True))


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("hour", [8, 23, None]),  # UTC -> New York (EST in January, EDT in summer)
        ("day_of_week", [5, 6, None]),  # Saturday; the 1st of July 03:30 UTC is Sunday evening
        ("month", [1, 6, None]),
        ("day_of_year", [5, 181, None]),
        ("is_weekend", [1, 1, None]),
    ],
)
def test_datetime_parts_are_local_to_the_pipeline_time_zone(
    op: str, expected: list[int | None]
) -> None:
    spec = DatetimePartFeature(op=op, column="t")  # type: ignore[arg-type]
    out = compute_feature(pd.DataFrame({"t": TIMES}), spec, "America/New_York")
    assert [None if pd.isna(v) else int(v) for v in out] == expected


@pytest.mark.parametrize(("hhmm", "minutes"), [(0, 0), (515, 315), (1359, 839), (2359, 1439)])
def test_hhmm_to_minutes(hhmm: int, minutes: int) -> None:
    frame = pd.DataFrame({"t": pd.array([hhmm], dtype="Int64")})
    assert (
        compute_feature(frame, HhmmToMinutesFeature(op="hhmm_to_minutes", column="t"), "UTC")[0]
        == minutes
    )


def test_numeric_ops_handle_zero_null_and_negative() -> None:
    frame = pd.DataFrame(
        {
            "a": [10.0, 5.0, np.nan, -3.0],
            "b": [2.0, 0.0, 1.0, 1.0],
            "year": pd.array([2003, None, 2013, 1990], dtype="Int64"),
        }
    )
    ratio = compute_feature(frame, RatioFeature(op="ratio", numerator="a", denominator="b"), "UTC")
    assert ratio[0] == 5.0 and math.isnan(ratio[1]) and math.isnan(ratio[2])
    age = compute_feature(frame, AgeFeature(op="age", column="year", reference=2013), "UTC")
    assert age[0] == 10 and math.isnan(age[1]) and age[3] == 23
    log = compute_feature(frame, Log1pFeature(op="log1p", column="a"), "UTC")
    assert log[0] == pytest.approx(math.log(11)) and math.isnan(log[3])  # log of -3 + 1: undefined
    missing = compute_feature(frame, IsMissingFeature(op="is_missing", column="a"), "UTC")
    assert missing.tolist() == [0, 0, 1, 0]
    bins = compute_feature(
        frame, BucketFeature(op="bucket", column="a", edges=[-10, 0, 6, 20]), "UTC"
    )
    assert [None if pd.isna(v) else int(v) for v in bins] == [2, 1, None, 0]


def test_label_is_null_where_its_source_is_null() -> None:
    frame = pd.DataFrame({"dep_delay": [14.0, 15.0, np.nan, 200.0]})
    label = compute_target(
        frame, BinaryTarget(name="delayed", column="dep_delay", op=">=", value=15)
    )
    assert label.tolist()[:2] == [False, True] and label.isna().tolist() == [
        False,
        False,
        True,
        False,
    ]


def test_join_never_multiplies_event_rows() -> None:
    events = pd.DataFrame({"k": ["a", "b", "c", "a"], "x": [1, 2, 3, 4]})
    reference = pd.DataFrame({"key": ["a", "b"], "size": [10, 20]})
    join = JoinConfig(source="ref", keys={"k": "key"}, columns={"size": "ref_size"})
    joined = join_references(events, {"ref": reference}, [join])
    assert joined["ref_size"].tolist()[:2] == [10, 20] and pd.isna(joined["ref_size"][2])
    assert len(joined) == 4
    duplicated = pd.concat([reference, reference.head(1)])
    with pytest.raises(ValueError, match="duplicate keys"):
        join_references(events, {"ref": duplicated}, [join])


def test_feature_kinds_of_the_flight_pipeline(flight_config) -> None:  # type: ignore[no-untyped-def]
    kinds = feature_kinds(flight_config)
    assert {n for n, k in kinds.items() if k == "categorical"} == {
        "carrier",
        "origin",
        "dest",
        "plane_type",
    }
    assert kinds["sched_dep_minutes"] == "numeric"


def _days(*values: str | None) -> np.ndarray:
    return np.array([v or "NaT" for v in values], dtype="datetime64[D]")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2013-07-04", 0),  # on the holiday
        ("2013-07-01", -3),  # before it: negative
        ("2013-07-07", 3),  # after it: positive
        ("2013-07-10", 6),  # nearer the past one (6) than the next (7)
        ("2013-07-11", -6),  # nearer the next one
        ("2013-01-01", -30),  # 61 days before the first: clipped
        ("2013-12-31", 30),  # 161 days after the last: clipped
    ],
)
def test_days_from_the_nearest_holiday(day: str, expected: int) -> None:
    holidays = [dt.date(2013, 7, 4), dt.date(2013, 7, 17)]
    assert days_from_nearest(_days(day), holidays, max_days=30).tolist() == [expected]


def test_a_tie_goes_to_the_earlier_holiday_and_missing_days_stay_missing() -> None:
    holidays = [dt.date(2013, 7, 4), dt.date(2013, 7, 8)]
    out = days_from_nearest(_days("2013-07-06", None), holidays, max_days=30)
    assert out[0] == 2 and math.isnan(out[1])
    assert np.isnan(days_from_nearest(_days("2013-07-06"), [], max_days=30)).all()


def test_holiday_distance_reads_the_local_date_and_sees_across_new_year() -> None:
    times = pd.Series(
        pd.to_datetime(
            ["2013-07-05T02:00:00Z", "2013-07-05T12:00:00Z", "2013-12-31T12:00:00Z", None],
            utc=True,
        )
    )
    spec = HolidayDistanceFeature(
        op="holiday_distance",
        column="t",
        calendar=HolidayCalendar(country="US", subdivision="NY"),
    )
    out = compute_feature(pd.DataFrame({"t": times}), spec, "America/New_York")
    # 22:00 on the 4th of July in New York; the next morning; New Year's Eve, a day before
    # the 2014 New Year's Day (a holiday of the next year's calendar).
    assert [None if pd.isna(v) else int(v) for v in out] == [0, 1, -1, None]
    assert str(out.dtype) == "Int64"


def test_listed_holiday_dates_replace_the_country_calendar() -> None:
    times = pd.Series(pd.to_datetime(["2013-03-01T12:00:00Z"], utc=True))
    calendar = HolidayCalendar(dates=[dt.date(2013, 3, 4)])
    spec = HolidayDistanceFeature(op="holiday_distance", column="t", calendar=calendar, max_days=2)
    assert compute_feature(pd.DataFrame({"t": times}), spec, "UTC").tolist() == [-2]

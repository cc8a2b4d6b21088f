"""Tier 1: the small-batch paths of serving give exactly what the general paths give.

A join of a few rows looks keys up in a dict instead of `get_indexer`; features are
computed on joined columns and framed from their arrays instead of through DataFrames.
"""

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib import reference_lookup
from ml_assets.lib.config.models import (
    AgeFeature,
    DatetimePartFeature,
    HhmmToMinutesFeature,
    JoinConfig,
    PassthroughFeature,
)
from ml_assets.lib.features import FeatureInputs, compute_feature, features_frame
from ml_assets.lib.reference_lookup import ReferenceLookup

UTC_HOURS = pd.to_datetime(["2013-01-01 05:00", "2013-01-01 06:00", "NaT"], utc=True)
REFERENCE = pd.DataFrame(
    {
        "code": pd.array(["EWR", "JFK", None], dtype="string"),
        "hour": UTC_HOURS.tz_convert("America/New_York"),  # the same instants, another zone
        "temp": [1.5, np.nan, 3.5],
        "seats": pd.array([100, None, 300], dtype="Int64"),
    }
)
EVENTS = {
    "origin": pd.Series(pd.array(["EWR", "JFK", None, "LGA", "EWR", None], dtype="string")),
    "time_hour": pd.Series(
        pd.to_datetime(
            [
                "2013-01-01 05:00",
                "2013-01-01 05:00",
                "NaT",  # a null key matches the reference's null key, as in a merge
                "2013-01-02 05:00",  # an unknown code and hour
                "2013-01-01 06:00",
                "2013-01-01 05:00",
            ],
            utc=True,
        )
    ),
}


@pytest.mark.parametrize(
    ("keys", "event_keys"),
    [
        ({"origin": "code", "time_hour": "hour"}, ["origin", "time_hour"]),
        ({"origin": "code"}, ["origin"]),
        ({"time_hour": "hour"}, ["time_hour"]),
    ],
)
def test_dict_lookup_equals_get_indexer_with_missing_and_null_keys(
    keys: dict[str, str], event_keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    join = JoinConfig(source="weather", keys=keys, columns={"temp": "temp", "seats": "seats"})
    lookup = ReferenceLookup.of(REFERENCE, join)
    wanted = [EVENTS[k] for k in event_keys]
    by_dict = lookup.positions(wanted)
    monkeypatch.setattr(reference_lookup, "DICT_LOOKUP_ROWS", 0)
    by_index = lookup.positions(wanted)
    np.testing.assert_array_equal(by_dict, by_index)
    assert (by_dict == -1).any() and (by_dict >= 0).any()  # both outcomes are exercised


def test_features_frame_equals_a_frame_of_the_series() -> None:
    index = pd.RangeIndex(3)
    columns = {
        "f": pd.Series([1.0, np.nan, 2.0], index=index),
        "i": pd.Series(pd.array([1, None, 3], dtype="Int64"), index=index),
        "s": pd.Series(pd.array(["a", None, "b"], dtype="string"), index=index),
        "c": pd.Series(pd.Categorical(["x", None, "x"]), index=index),
        "t": pd.Series(UTC_HOURS, index=index),
        "b": pd.Series([True, False, True], index=index),
        # Python datetimes in an object column stay objects (pandas would infer datetimes).
        "o": pd.Series([pd.Timestamp(0).to_pydatetime(), None, "x"], dtype=object, index=index),
    }
    pd.testing.assert_frame_equal(features_frame(columns), pd.DataFrame(columns), check_exact=True)


@pytest.mark.parametrize("op", ["hour", "day_of_week", "month", "day_of_year", "is_weekend"])
def test_datetime_parts_equal_the_dt_accessor(op: str) -> None:
    times = pd.Series(pd.date_range("2013-01-01", "2014-01-01", freq="7h", tz="UTC"))
    times = times.where(np.arange(len(times)) % 11 != 0)  # some NaT
    local = times.dt.tz_convert("America/New_York")
    if op == "is_weekend":
        expected = (local.dt.dayofweek >= 5).astype("Int64").where(local.notna())
    else:
        name = {"day_of_week": "dayofweek", "day_of_year": "dayofyear"}.get(op, op)
        expected = getattr(local.dt, name).astype("Int64")
    spec = DatetimePartFeature(op=op, column="t")
    got = compute_feature(pd.DataFrame({"t": times}), spec, "America/New_York")
    pd.testing.assert_series_equal(got, expected.rename("t"), check_exact=True)


def test_shared_conversions_equal_the_series_ops() -> None:
    frame = pd.DataFrame(
        {
            "hhmm": pd.array([0, 515, None, 2359], dtype="Int64"),
            "year": pd.array([2003, None, 2013, 1990], dtype="Int64"),
        }
    )
    inputs = FeatureInputs(dict(frame.items()))
    minutes = compute_feature(
        inputs, HhmmToMinutesFeature(op="hhmm_to_minutes", column="hhmm"), "UTC"
    )
    pd.testing.assert_series_equal(minutes, (frame.hhmm // 100) * 60 + frame.hhmm % 100)
    age = compute_feature(inputs, AgeFeature(op="age", column="year", reference=2013), "UTC")
    pd.testing.assert_series_equal(age, 2013 - frame.year.astype("float64"))
    passthrough = compute_feature(
        inputs, PassthroughFeature(op="passthrough", column="year"), "UTC"
    )
    assert passthrough is frame.year or passthrough.equals(frame.year)


def test_a_datetime_part_of_text_fails_as_the_dt_accessor_does() -> None:
    spec = DatetimePartFeature(op="month", column="t")
    with pytest.raises(TypeError, match="not a time zone aware datetime"):
        compute_feature(pd.DataFrame({"t": ["2013-01-01"]}), spec, "UTC")

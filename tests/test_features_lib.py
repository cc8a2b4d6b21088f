"""Tier 1: feature ops, joins and the label, as plain functions."""

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
    IsMissingFeature,
    JoinConfig,
    Log1pFeature,
    RatioFeature,
)
from ml_assets.lib.features import compute_feature, compute_target, feature_kinds, join_references

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

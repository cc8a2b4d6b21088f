"""Tier 1: history features (target rates by group over the days before each event)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config.models import EventCountFeature, TargetRateFeature
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.features import EVENT_DATE, local_days
from ml_assets.lib.group_history import GroupHistory
from resources.sources import assign_event_dates


def _events(seed: int = 0, days: int = 20) -> pd.DataFrame:
    """Events of two origins over `days` days; A is delayed more often than B."""
    rng = np.random.default_rng(seed)
    start = dt.date(2013, 3, 1)
    rows = []
    for d in range(days):
        day = (start + dt.timedelta(days=d)).isoformat()
        for origin, rate in (("A", 0.6), ("B", 0.2)):
            for _ in range(int(rng.integers(5, 15))):
                rows.append({EVENT_DATE: day, "origin": origin, "late": bool(rng.random() < rate)})
    frame = pd.DataFrame(rows)
    frame[EVENT_DATE] = frame[EVENT_DATE].astype("string")
    return frame


def _fit(frame: pd.DataFrame, days: int = 3, prior_rows: float = 0.0) -> GroupHistory:
    return GroupHistory.fit(
        [frame["origin"]],
        frame[EVENT_DATE],
        frame["late"],
        group=["origin"],
        days=days,
        prior_rows=prior_rows,
    )


def _at(history: GroupHistory, origin: str | None, day: str | None) -> float:
    return float(history.transform([pd.Series([origin])], pd.Series([day]))[0])


def test_the_rate_counts_only_the_days_before_the_event() -> None:
    frame = _events()
    history = _fit(frame, days=3)
    before = frame[
        (frame["origin"] == "A")
        & frame[EVENT_DATE].isin(["2013-03-07", "2013-03-08", "2013-03-09"])
    ]
    assert _at(history, "A", "2013-03-10") == pytest.approx(before["late"].mean())
    # The first day has no history; the second sees only the first.
    assert np.isnan(_at(history, "A", "2013-03-01"))
    first = frame[(frame["origin"] == "A") & (frame[EVENT_DATE] == "2013-03-01")]
    assert _at(history, "A", "2013-03-02") == pytest.approx(first["late"].mean())


def test_changing_the_labels_of_a_day_changes_only_later_days() -> None:
    """The leakage guard: shuffle (here: flip) the target inside one day; the features of
    that day and every earlier day stay the same, later days see it."""
    frame = _events(seed=1)
    flipped = frame.copy()
    on_day = flipped[EVENT_DATE] == "2013-03-12"
    flipped.loc[on_day, "late"] = ~flipped.loc[on_day, "late"]
    days = pd.Series(frame[EVENT_DATE].unique())
    origins = pd.Series(["A"] * len(days))
    original = _fit(frame, days=7).transform([origins], days)
    changed = _fit(flipped, days=7).transform([origins], days)
    earlier = (days <= "2013-03-12").to_numpy()
    np.testing.assert_array_equal(original[earlier], changed[earlier])
    assert not np.allclose(original[~earlier][:7], changed[~earlier][:7])


def test_past_the_fitted_days_the_latest_window_is_read() -> None:
    frame = _events()
    history = _fit(frame, days=5)
    latest = _at(history, "B", "2013-03-21")  # the day after the last fitted day
    assert _at(history, "B", "2013-04-30") == latest
    assert _at(history, "B", None) == latest  # no day: scored now, after the table
    last_five = frame[(frame["origin"] == "B") & (frame[EVENT_DATE] >= "2013-03-16")]
    assert latest == pytest.approx(last_five["late"].mean())


def test_small_and_unseen_groups_shrink_to_the_all_groups_rate() -> None:
    frame = _events()
    window = frame[frame[EVENT_DATE].between("2013-03-08", "2013-03-09")]
    history = _fit(frame, days=2, prior_rows=10.0)
    everyone = window["late"].mean()
    a = window[window["origin"] == "A"]["late"]
    expected = (a.sum() + 10.0 * everyone) / (len(a) + 10.0)
    assert _at(history, "A", "2013-03-10") == pytest.approx(expected)
    assert _at(history, "Z", "2013-03-10") == pytest.approx(everyone)
    assert _at(history, None, "2013-03-10") == pytest.approx(everyone)


def _fit_counts(frame: pd.DataFrame, days: int) -> GroupHistory:
    return GroupHistory.fit(
        [frame["origin"]], frame[EVENT_DATE], None, group=["origin"], days=days, statistic="count"
    )


def test_a_count_is_the_groups_events_a_day_over_the_days_before() -> None:
    frame = _events(seed=2)
    # Unlabelled events are still events: a count needs no target.
    frame.loc[frame.index[::5], "late"] = None
    history = _fit_counts(frame, days=3)
    a = frame[frame["origin"] == "A"]
    before = a[a[EVENT_DATE].isin(["2013-03-07", "2013-03-08", "2013-03-09"])]
    assert _at(history, "A", "2013-03-10") == pytest.approx(len(before) / 3)
    # The second day sees one day; the first none; past the table, the latest three.
    assert _at(history, "A", "2013-03-02") == (a[EVENT_DATE] == "2013-03-01").sum()
    assert np.isnan(_at(history, "A", "2013-03-01"))
    latest = a[a[EVENT_DATE] >= "2013-03-18"]
    assert _at(history, "A", "2013-06-01") == pytest.approx(len(latest) / 3)
    # A group never seen had no events; an incomplete key has no group.
    assert _at(history, "Z", "2013-03-10") == 0.0
    assert np.isnan(_at(history, None, "2013-03-10"))


def test_events_added_to_a_day_change_only_later_days_counts() -> None:
    """The leakage guard for counts: more events on one day leave that day's and every
    earlier day's features as they were."""
    frame = _events(seed=3)
    extra = frame[(frame[EVENT_DATE] == "2013-03-12") & (frame["origin"] == "A")]
    busier = pd.concat([frame, extra, extra], ignore_index=True)
    days = pd.Series(frame[EVENT_DATE].unique())
    origins = pd.Series(["A"] * len(days))
    original = _fit_counts(frame, days=7).transform([origins], days)
    changed = _fit_counts(busier, days=7).transform([origins], days)
    earlier = (days <= "2013-03-12").to_numpy()
    np.testing.assert_array_equal(original[earlier], changed[earlier])
    assert (changed[~earlier][:7] > original[~earlier][:7]).all()


def test_the_spec_carries_the_tables_through_json_and_computes_the_columns() -> None:
    frame = _events()
    ops = {
        "origin_rate": TargetRateFeature(op="target_rate", group=["origin"], days=4),
        "origin_daily": EventCountFeature(op="event_count", group=["origin"], days=2),
    }
    kinds = {"origin": "categorical", "origin_rate": "numeric", "origin_daily": "numeric"}
    spec = FeatureSpec.fit(frame, kinds, "late", ops)  # type: ignore[arg-type]
    again = FeatureSpec.from_json(spec.to_json())
    assert again.history["origin_daily"].statistic == "count"
    assert "sums" not in spec.to_dict()["history"]["origin_daily"]  # they are its counts
    matrix, reloaded = spec.matrix(frame), again.matrix(frame)
    pd.testing.assert_frame_equal(matrix, reloaded)
    assert list(matrix.columns) == ["origin_rate", "origin_daily", "origin"]
    assert matrix["origin_rate"].notna().sum() == (frame[EVENT_DATE] > "2013-03-01").sum()
    on_day = frame[EVENT_DATE] == "2013-03-10"
    expected = frame[frame[EVENT_DATE].isin(["2013-03-08", "2013-03-09"])].groupby("origin").size()
    assert (
        matrix.loc[on_day, "origin_daily"] == frame.loc[on_day, "origin"].map(expected) / 2
    ).all()
    # Serving hands the spec the features' columns, not a frame: the same numbers.
    codes = again.codes_array(dict(frame.items()))
    np.testing.assert_allclose(codes[:, :2], matrix.iloc[:, :2].to_numpy(), equal_nan=True)
    with pytest.raises(KeyError, match="event's day"):
        spec.matrix(frame.drop(columns=[EVENT_DATE]))


def test_a_whole_number_group_finds_its_key_as_int_or_float() -> None:
    frame = _events().assign(origin=lambda f: (f["origin"] == "A").astype("Int64"))
    history = _fit(frame, days=3)
    as_int = history.transform([pd.Series([1], dtype="Int64")], pd.Series(["2013-03-10"]))
    as_float = history.transform([pd.Series([1.0])], pd.Series(["2013-03-10"]))
    assert as_int[0] == as_float[0] and not np.isnan(as_int[0])


@pytest.mark.parametrize(
    "time",
    [
        "2013-03-10T06:59:00Z",
        "2013-03-10T07:00:00Z",
        "2013-11-03T05:30:00Z",
        "2013-12-31T23:30:00Z",
    ],
)
def test_serving_reads_the_same_day_as_ingestion(time: str) -> None:
    """Training rows carry the partition day; serving derives it from the event time."""
    times = pd.Series(pd.to_datetime([time], utc=True))
    ingested = assign_event_dates(times, 1, "America/Chicago", fallback=dt.date(2013, 1, 1))
    assert local_days(times, "America/Chicago").tolist() == ingested.tolist()

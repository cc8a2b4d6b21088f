"""A backfill cut into runs of a few days: the same partitions and rows as one run."""

from typing import Any

import pytest

from ml_assets.keys import features_key
from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from ml_assets.runs.backfill import day_windows, run_backfill


@pytest.mark.parametrize(
    ("start", "end", "days", "expected"),
    [
        ("2013-01-01", "2013-01-01", 3, [("2013-01-01", "2013-01-01")]),
        (
            "2013-01-01",
            "2013-01-05",
            2,
            [
                ("2013-01-01", "2013-01-02"),
                ("2013-01-03", "2013-01-04"),
                ("2013-01-05", "2013-01-05"),
            ],
        ),
        ("2013-02-27", "2013-03-02", 10, [("2013-02-27", "2013-03-02")]),
        (
            "2012-12-31",
            "2013-01-01",
            1,
            [("2012-12-31", "2012-12-31"), ("2013-01-01", "2013-01-01")],
        ),
    ],
)
def test_day_windows_cover_the_range_in_order(
    start: str, end: str, days: int, expected: list[tuple[str, str]]
) -> None:
    assert day_windows(start, end, days) == expected


def test_backfill_in_runs_of_two_days_materialises_every_day_once(instance: Any) -> None:
    from ml_assets.definitions import build_definitions

    defs = build_definitions()
    whole = run_backfill(defs, "flight_delays", "2013-01-01", "2013-01-03", instance, "WARNING")
    cut = run_backfill(
        defs, "flight_delays", "2013-01-01", "2013-01-03", instance, "WARNING", days_per_run=2
    )

    assert whole.success and cut.success
    assert cut.rows == whole.rows
    assert cut.rows["features"] == whole.rows["features"] > 0
    assert cut.partitions["features"] == 3
    runs = [instance.get_run_by_id(run_id) for run_id in cut.run_id.split(", ")]
    ranges = [(r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG]) for r in runs]
    assert ranges == [("2013-01-01", "2013-01-02"), ("2013-01-03", "2013-01-03")]
    materialised = instance.get_materialized_partitions(features_key("flight_delays"))
    assert {"2013-01-01", "2013-01-02", "2013-01-03"} <= set(materialised)


def test_backfill_refuses_runs_of_no_days(instance: Any) -> None:
    from ml_assets.definitions import build_definitions

    with pytest.raises(ValueError, match="days_per_run must be at least 1"):
        run_backfill(
            build_definitions(),
            "flight_delays",
            "2013-01-01",
            "2013-01-02",
            instance,
            days_per_run=0,
        )

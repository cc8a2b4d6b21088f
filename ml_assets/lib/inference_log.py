"""The inference log: every record the service scored, as daily Parquet files in the lake.

Layout: `<lake>/<pipeline>/inference_log_files/<YYYY-MM-DD>/<written>-<pid>-<uuid>.parquet`,
one file per day per write of a server process (names unique per process, so any number
of workers and replicas write side by side), each written atomically like every lake file.
The day is the event's own day when the pipeline is partitioned and its time column is a
request field (the local date in the pipeline's zone, the day whose `validated` partition
will hold the event and its label), else the day the record was served.

One row per scored record: `request_id`, `record` (its position in the request),
`served_at` (UTC), `pipeline`, `model_version`, `model_tag`, `arm`, `route`,
`latency_ms` (of the whole request, queueing included), `event_date`, then the validated
inputs as `input_<field>` (typed as training types them) and the outputs as
`output_<field>`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from .config.models import PipelineConfig
from .features import EVENT_DATE, compute_target
from .lake_files import atomic_write
from .scoring import serving_columns
from .typed_events import typed_columns, typed_events

LOG_FOLDER = "inference_log_files"
INPUT = "input_"
OUTPUT = "output_"
META_COLUMNS = (
    "request_id",
    "record",
    "served_at",
    "pipeline",
    "model_version",
    "model_tag",
    "arm",
    "route",
    "latency_ms",
    EVENT_DATE,
)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# `<written, UTC>-<pid>-<uuid>.parquet`: the write time is in the name, so the sensor
# knows when a day was last written to on any fsspec backend.
LOG_FILE = re.compile(r"^(\d{8}T\d{6}\d{6})Z-\d+-[0-9a-f]+\.parquet$")
STAMP = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class ScoredBatch:
    """One answered request as the service hands it to the log: references to what the
    request already holds, no copies (the rows are built when the buffer is written)."""

    request_id: str
    served_at: datetime
    route: str
    latency_ms: float
    model_version: str
    model_tag: str
    arm: str
    rows: int
    # The validated records (objects whose vars() are their field values, or mappings),
    # or for a columnar request its columns.
    records: Sequence[Any] | None
    columns: Mapping[str, Sequence[Any] | None] | None
    # The predictions (response models or mappings), or a columnar response.
    outputs: Sequence[Any] | Any
    # Each record's position in its request, when the batch holds only some of the
    # request's records (an A/B request's rows of one arm); None: 0, 1, 2, ...
    positions: Sequence[int] | None = None


def log_frame(batches: Sequence[ScoredBatch], config: PipelineConfig) -> pd.DataFrame:
    """The rows of the log for `batches`, one per scored record (see the module)."""
    outputs: list[Mapping[str, Any]] = []
    for batch in batches:
        outputs += _output_rows(batch)
    typed = _typed_inputs(batches, serving_columns(config)).add_prefix(INPUT)
    outs = pd.DataFrame.from_records(outputs, index=pd.RangeIndex(len(outputs)))
    # Who answered is the log's own columns (model_version, arm), not an output.
    outs = outs.drop(columns=list(_ANSWERED_BY), errors="ignore").add_prefix(OUTPUT)
    meta = meta_columns(batches, config)
    meta[EVENT_DATE] = event_days(typed, meta["served_at"], config)
    return pd.concat([meta, typed, outs], axis=1)


_ANSWERED_BY = ("model_version", "arm", "challenger_version")


def meta_columns(batches: Sequence[ScoredBatch], config: PipelineConfig) -> pd.DataFrame:
    """The log's own columns, one row per scored record: who asked, when, who answered,
    how long the whole request took (every log's rows begin with these)."""
    counts = [b.rows for b in batches]
    index = pd.RangeIndex(sum(counts))

    def repeated(name: str) -> Any:
        return pd.array(np.repeat([getattr(b, name) for b in batches], counts), "string")

    positions = [
        np.arange(b.rows, dtype="int64")
        if b.positions is None
        else np.asarray(b.positions, dtype="int64")
        for b in batches
    ]
    return pd.DataFrame(
        {
            "request_id": repeated("request_id"),
            "record": np.concatenate([np.zeros(0, dtype="int64"), *positions]),
            # One timestamp per batch converted, then repeated (not one per record).
            "served_at": pd.Series(
                pd.to_datetime([b.served_at for b in batches], utc=True).repeat(counts),
                index=index,
            ),
            "pipeline": pd.array([config.name] * len(index), "string"),
            "model_version": repeated("model_version"),
            "model_tag": repeated("model_tag"),
            "arm": repeated("arm"),
            "route": repeated("route"),
            "latency_ms": np.repeat([b.latency_ms for b in batches], counts).astype("float64"),
        },
        index=index,
    )


def _typed_inputs(batches: Sequence[ScoredBatch], fields: Mapping[str, Any]) -> pd.DataFrame:
    """The batches' inputs typed as training types them: one list of values per field
    (`typed_columns`, the columnar twin of `typed_events`), extended from a batch's
    columns when it has them (a columnar request, or records validated as columns by
    `bentos.records_input`), else from its records: no mapping per record is built."""
    values: dict[str, list[Any]] = {name: [] for name in fields}
    rows: list[Mapping[str, Any]] = []  # records not yet added to `values`

    def add_rows() -> None:
        for name, listed in values.items():
            listed.extend([row.get(name) for row in rows])
        rows.clear()

    for batch in batches:
        columns = batch.columns if batch.records is None else _columns_of(batch)
        if columns is None:
            rows.extend(r if isinstance(r, Mapping) else vars(r) for r in batch.records or ())
            continue
        add_rows()
        for name, listed in values.items():
            given = columns.get(name)
            listed.extend([None] * batch.rows if given is None else given)
    add_rows()
    if not values or not batches:
        return typed_events([], fields)
    return typed_columns(values, fields)


def _columns_of(batch: ScoredBatch) -> Mapping[str, Sequence[Any] | None] | None:
    """The columns its records were validated as (`RecordBatch.columns`), if they were."""
    columns = getattr(batch.records, "columns", None)
    whole = batch.records is not None and len(batch.records) == batch.rows
    return columns if isinstance(columns, Mapping) and whole else None


def _output_rows(batch: ScoredBatch) -> Sequence[Mapping[str, Any]]:
    if isinstance(batch.outputs, Sequence):
        return [p if isinstance(p, Mapping) else vars(p) for p in batch.outputs]
    given = batch.outputs if isinstance(batch.outputs, Mapping) else vars(batch.outputs)
    rows: list[dict[str, Any]] = [{} for _ in range(batch.rows)]
    for name, values in given.items():
        if isinstance(values, list):
            for row, value in zip(rows, values, strict=True):
                row[name] = value
        elif isinstance(values, Mapping):  # one list per class: a mapping per row
            for i, row in enumerate(rows):
                row[name] = {key: listed[i] for key, listed in values.items()}
    return rows  # a scalar (the model version) is the log's own column


def event_days(typed: pd.DataFrame, served_at: pd.Series, config: PipelineConfig) -> pd.Series:
    """The day of each record (see the module): its event time's local date when the
    pipeline is partitioned on a request field, else (and for a missing time) the local
    date it was served on."""
    zone = config.timezone
    served = _local_days(served_at, zone)
    column = f"{INPUT}{config.partitioning.time_column}" if config.partitioning else None
    if column is None or column not in typed.columns:
        return pd.Series(served, index=typed.index, dtype="string")
    times = typed[column]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):  # typed inputs already are (0.7 ms)
        times = pd.to_datetime(times, utc=True)
    days = np.where(times.isna().to_numpy(), served, _local_days(times, zone))
    return pd.Series(days, index=typed.index, dtype="string")


def _local_days(times: pd.Series, zone: str) -> np.ndarray:
    """`YYYY-MM-DD` of each UTC time in `zone` (strftime costs ~6 us a value; this ~0.1)."""
    local = times.dt.tz_convert(zone).dt.tz_localize(None).to_numpy()
    return np.datetime_as_string(local.astype("datetime64[D]"), unit="D")


def write_log(base_url: str, pipeline: str, frame: pd.DataFrame, prefix: str = "") -> list[str]:
    """Write the rows as one new file per day they fall on (its name starting with
    `prefix`); the paths written."""
    written = datetime.now(UTC).strftime(STAMP)
    paths = []
    for day, rows in frame.groupby(EVENT_DATE, sort=True):
        name = f"{prefix}{written}Z-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        path = f"{day_folder(base_url, pipeline, str(day))}/{name}"
        atomic_write(path, _parquet_writer(rows.reset_index(drop=True)))
        paths.append(path)
    return paths


def _parquet_writer(frame: pd.DataFrame) -> Callable[[Any], object]:
    return lambda handle: frame.to_parquet(handle, index=False)


def day_folder(base_url: str, pipeline: str, day: str) -> str:
    return f"{base_url.rstrip('/')}/{pipeline}/{LOG_FOLDER}/{day}"


def log_days(
    base_url: str, pipeline: str, pattern: re.Pattern[str] = LOG_FILE
) -> dict[str, list[str]]:
    """Day -> the names of its log files (temporary files of unfinished writes left out),
    or of the files in the day folders whose names match `pattern`."""
    fs, root = fsspec.core.url_to_fs(f"{base_url.rstrip('/')}/{pipeline}/{LOG_FOLDER}")
    if not fs.isdir(root):
        return {}
    days: dict[str, list[str]] = {}
    for entry in fs.ls(root, detail=True):
        day = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry["type"] != "directory" or not DAY.match(day):
            continue
        names = sorted(
            name
            for f in fs.ls(entry["name"], detail=False)
            if pattern.match(name := f.rstrip("/").rsplit("/", 1)[-1])
        )
        if names:
            days[day] = names
    return dict(sorted(days.items()))


def written_at(name: str) -> datetime:
    """When a log file was written, from its name."""
    match = LOG_FILE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not an inference log file name")
    return datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)


def read_day(base_url: str, pipeline: str, day: str) -> tuple[pd.DataFrame, int]:
    """Every logged record of a day in the order served, and the number of files read."""
    names = log_days(base_url, pipeline).get(day, [])
    folder = day_folder(base_url, pipeline, day)
    frames = []
    for name in names:
        with fsspec.open(f"{folder}/{name}", "rb") as handle:
            frames.append(pd.read_parquet(handle))
    if not frames:
        return pd.DataFrame({c: [] for c in META_COLUMNS}), 0
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["served_at", "request_id", "record"], kind="stable")
    return rows.reset_index(drop=True), len(frames)


def entity_key(config: PipelineConfig) -> list[str] | None:
    """The request fields that identify an event: `serving.entity_key`, else the event
    source's primary key when all of it is in requests; None when neither is known."""
    if config.serving.entity_key:
        return list(config.serving.entity_key)
    key = config.event_source.primary_key
    fields = serving_columns(config)
    return list(key) if key and all(c in fields for c in key) else None


def with_labels(
    log: pd.DataFrame, validated: pd.DataFrame | None, key: Sequence[str], config: PipelineConfig
) -> pd.DataFrame:
    """The log's rows, each with `actual`: the label of its event in the day's validated
    rows, matched on `key` (null when the event is not there, or its label not known).
    A key that repeats in the validated rows keeps its first row: a join never adds rows."""
    out = log.reset_index(drop=True)
    if validated is None or validated.empty or out.empty:
        return out.assign(actual=pd.Series([None] * len(out), dtype="object"))
    keys = out[[f"{INPUT}{c}" for c in key]].set_axis(list(key), axis=1)
    labels = validated[list(key)].assign(actual=compute_target(validated, config.target))
    labels = labels.drop_duplicates(list(key), keep="first")
    for column in key:  # the same dtype on both sides (a datetime's unit may differ)
        if keys[column].dtype != labels[column].dtype:
            keys[column] = keys[column].astype(labels[column].dtype)
    matched = keys.merge(labels, on=list(key), how="left", validate="many_to_one", sort=False)
    return out.assign(actual=matched["actual"].to_numpy())


# A response's mapping per row and the columns of a scored frame it comes from: a
# multiclass answer's `probabilities` are the scored frame's `probability[<class>]`.
_SCORED_NAME = {"probabilities": "probability"}


def outputs_of(log: pd.DataFrame) -> pd.DataFrame:
    """The log's outputs under the names of a scored frame (`probability`, `label`, a
    mapping per row such as `probabilities` as one `probabilities[<key>]` column per key)."""
    outputs: dict[str, Any] = {}
    for column in log.columns:
        if not column.startswith(OUTPUT):
            continue
        name, values = column[len(OUTPUT) :], log[column]
        mappings = [v for v in values if isinstance(v, Mapping)]
        if mappings:
            for key in mappings[0]:
                outputs[f"{_SCORED_NAME.get(name, name)}[{key}]"] = [
                    v.get(key) if isinstance(v, Mapping) else None for v in values
                ]
        else:
            outputs[name] = values.to_numpy()
    return pd.DataFrame(outputs, index=log.index)


def summary(log: pd.DataFrame) -> dict[str, Any]:
    """What a day of served traffic looks like, for the UI."""
    if log.empty:
        return {"records": 0, "requests": 0}
    latency = log.drop_duplicates("request_id")["latency_ms"]
    return {
        "records": len(log),
        "requests": int(log["request_id"].nunique()),
        "model_versions": sorted(str(v) for v in log["model_version"].unique()),
        "arms": sorted(str(v) for v in log["arm"].unique()),
        "routes": sorted(str(v) for v in log["route"].unique()),
        "latency_ms_p50": round(float(latency.quantile(0.5)), 3),
        "latency_ms_p99": round(float(latency.quantile(0.99)), 3),
        "first_served": str(log["served_at"].min()),
        "last_served": str(log["served_at"].max()),
    }


def settled(names: Iterable[str], now: datetime, settle_seconds: float) -> bool:
    """Whether a day's newest file is at least `settle_seconds` old."""
    newest = max(written_at(n) for n in names)
    return (now - newest).total_seconds() >= settle_seconds

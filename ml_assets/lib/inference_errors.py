"""Requests the service failed to score: answered with a 5xx because the model or the
service broke, not the request (a request at fault is a 400 and is not recorded here).
They are written beside the inference log, so that the rollback sensor can judge a
model's error rate, a model that fails every request included.

Layout: `<lake>/<pipeline>/inference_log_files/<YYYY-MM-DD>/errors-<written>-<pid>-<uuid>.parquet`,
in the log's own day folders (the log's readers list only its own file names, so they never
read these; a day's folder kept as evidence keeps its errors too). The day is the one the
failed records would have been logged on (ml_assets.lib.inference_log). One row per failed
request and day its records fall on: ERROR_COLUMNS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from .config.models import PipelineConfig
from .features import EVENT_DATE
from .inference_log import ScoredBatch, day_folder, log_days, log_frame, write_log

ERROR_FILE = re.compile(r"^errors-(\d{8}T\d{6}\d{6})Z-\d+-[0-9a-f]+\.parquet$")
ERROR_COLUMNS = (
    "request_id",
    "served_at",
    "pipeline",
    "model_version",
    "model_tag",
    "arm",
    "route",
    "latency_ms",
    "status",
    "error_id",
    "rows",
    EVENT_DATE,
)


@dataclass(frozen=True)
class FailedRequest:
    """A request the service answered with a 5xx, as the service hands it to the log: the
    model that was to answer, and the validated records (or columns) it could not score."""

    request_id: str
    served_at: datetime
    route: str
    latency_ms: float
    model_version: str
    model_tag: str
    arm: str
    rows: int
    records: Sequence[Any] | None
    columns: Mapping[str, Sequence[Any] | None] | None
    status: int
    error_id: str


def error_frame(
    failed: Sequence[FailedRequest],
    config: PipelineConfig,
    rows_of: Callable[[Sequence[ScoredBatch], PipelineConfig], pd.DataFrame] = log_frame,
) -> pd.DataFrame:
    """One row per failed request and day (see the module). `rows_of` gives the failed
    records the meta columns and days their log would give them (the tabular log's
    `log_frame`; the text service's `text_request_rows`)."""
    if not failed:
        return pd.DataFrame({c: [] for c in ERROR_COLUMNS})
    as_scored = [
        ScoredBatch(
            request_id=f.request_id,
            served_at=f.served_at,
            route=f.route,
            latency_ms=f.latency_ms,
            model_version=f.model_version,
            model_tag=f.model_tag,
            arm=f.arm,
            rows=f.rows,
            records=f.records,
            columns=f.columns,
            outputs=[{} for _ in range(f.rows)],
        )
        for f in failed
    ]
    records = rows_of(as_scored, config)  # the records' days, as the log dates them
    counts = [f.rows for f in failed]
    records["status"] = np.repeat([f.status for f in failed], counts).astype("int64")
    records["error_id"] = pd.array(np.repeat([f.error_id for f in failed], counts), "string")
    kept = [c for c in ERROR_COLUMNS if c != "rows"]
    grouped = records.groupby(["request_id", EVENT_DATE], sort=False, as_index=False)
    rows = grouped.agg(**{c: (c, "first") for c in kept if c not in ("request_id", EVENT_DATE)})
    rows["rows"] = grouped.size()["size"].to_numpy()
    return rows[list(ERROR_COLUMNS)]


def write_errors(base_url: str, pipeline: str, frame: pd.DataFrame) -> list[str]:
    """Write the rows as one new errors file per day they fall on; the paths written."""
    return write_log(base_url, pipeline, frame, prefix="errors-")


def error_days(base_url: str, pipeline: str) -> dict[str, list[str]]:
    """Day -> the names of its errors files."""
    return log_days(base_url, pipeline, ERROR_FILE)


def read_errors(base_url: str, pipeline: str, days: Sequence[str]) -> pd.DataFrame:
    """The failed requests of `days`, each (request, day) once: a write retried after a
    partial failure may have stored one twice."""
    found = error_days(base_url, pipeline)
    frames = []
    for day in days:
        for name in found.get(day, []):
            with fsspec.open(f"{day_folder(base_url, pipeline, day)}/{name}", "rb") as handle:
                frames.append(pd.read_parquet(handle))
    if not frames:
        return pd.DataFrame({c: [] for c in ERROR_COLUMNS})
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(["request_id", EVENT_DATE])
    return rows.sort_values("served_at", kind="stable").reset_index(drop=True)

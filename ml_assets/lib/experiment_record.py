"""A live experiment as a record in the lake: which challenger runs against which
champion, how, since when; and what the inference log says each arm served.

`<lake>/<pipeline>/experiments/current.json` is the running experiment (at most one per
pipeline: two would split the same traffic twice); stopping it moves the record, with
when and why, to `<lake>/<pipeline>/experiments/<started>.json`. `mlap serve`, the
experiment assets and their sensor read it there, so every process that needs it sees the
same experiment on any fsspec backend.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime

import fsspec
import pandas as pd

from .lake_files import atomic_write

FOLDER = "experiments"
CURRENT = "current.json"


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment: its models (registered versions and BentoML model tags), the bento
    that serves both, its mode and share, and its life (started, stopped and why)."""

    pipeline: str
    mode: str
    share: float
    entity_key: list[str]
    champion_version: str
    champion_tag: str
    challenger_version: str
    challenger_tag: str
    bento_tag: str
    started_at: str
    started_by: str
    min_samples: int
    confidence: float
    stopped_at: str | None = None
    stopped_reason: str | None = None

    def stopped(self, when: datetime, reason: str) -> ExperimentRecord:
        return replace(self, stopped_at=when.isoformat(timespec="seconds"), stopped_reason=reason)

    def render(self) -> str:
        share = f", {self.share:.0%} of entities to the challenger" if self.mode == "ab" else ""
        lines = [
            f"{self.pipeline}: {self.mode} experiment{share}",
            f"champion v{self.champion_version} against challenger v{self.challenger_version}",
            f"bento: {self.bento_tag}",
            f"started {self.started_at} by {self.started_by}",
        ]
        if self.stopped_at:
            lines.append(f"stopped {self.stopped_at}: {self.stopped_reason}")
        return "\n".join(lines)


def _folder(base_url: str, pipeline: str) -> str:
    return f"{base_url.rstrip('/')}/{pipeline}/{FOLDER}"


def read_current(base_url: str, pipeline: str) -> ExperimentRecord | None:
    """The pipeline's running experiment, or None."""
    path = f"{_folder(base_url, pipeline)}/{CURRENT}"
    fs, fs_path = fsspec.core.url_to_fs(path)
    if not fs.exists(fs_path):
        return None
    with fs.open(fs_path, "rb") as handle:
        return ExperimentRecord(**json.loads(handle.read()))


def write_current(base_url: str, record: ExperimentRecord) -> str:
    path = f"{_folder(base_url, record.pipeline)}/{CURRENT}"
    _write(path, record)
    return path


def archive(base_url: str, record: ExperimentRecord) -> str:
    """Keep a stopped experiment under its start time and end the current one."""
    if record.stopped_at is None:
        raise ValueError("only a stopped experiment is archived")
    stamp = record.started_at.replace(":", "").replace("+", "_")
    path = f"{_folder(base_url, record.pipeline)}/{stamp}.json"
    _write(path, record)
    fs, current = fsspec.core.url_to_fs(f"{_folder(base_url, record.pipeline)}/{CURRENT}")
    if fs.exists(current):
        fs.rm(current)
    return path


def _write(path: str, record: ExperimentRecord) -> None:
    text = json.dumps(asdict(record), indent=2, sort_keys=True).encode()
    atomic_write(path, lambda handle: handle.write(text))


def arm_counts(log: pd.DataFrame, record: ExperimentRecord) -> pd.DataFrame:
    """Per arm and model version, the records and requests served during the experiment
    (from its start; its two models only) and their median latency."""
    columns = ["arm", "model_version", "records", "requests", "latency_ms_p50"]
    if log.empty:
        return pd.DataFrame(columns=columns)
    since = pd.Timestamp(record.started_at)
    versions = {record.champion_version, record.challenger_version}
    served = log[
        (pd.to_datetime(log["served_at"], utc=True) >= since)
        & log["model_version"].astype(str).isin(versions)
    ]
    if served.empty:
        return pd.DataFrame(columns=columns)
    grouped = served.groupby(["arm", "model_version"], sort=True)
    table = grouped.agg(
        records=("request_id", "size"),
        requests=("request_id", "nunique"),
        latency_ms_p50=("latency_ms", "median"),
    )
    return table.reset_index()[columns]

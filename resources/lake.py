"""The lake: one Parquet file per asset partition, written atomically, under any fsspec URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
)
from pydantic import Field

from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.hashing import frame_hash, part_hashes
from ml_assets.lib.inference_errors import error_days, read_errors
from ml_assets.lib.inference_log import log_days, read_day
from ml_assets.lib.lake_files import atomic_write, lake_path

COLUMN_SCHEMA = "dagster/column_schema"

__all__ = ["LakeIOManager", "LakeResource", "atomic_write", "lake_path"]


class LakeIOManager(ConfigurableIOManager):
    """Stores DataFrames as Parquet under `base_path/<asset key>/<partition>.parquet`.

    A run over a range of partitions (single-run backfill) is split by its `event_date`
    column into one file per partition. Each file is written to a temporary name in the
    same folder and then renamed, so a killed run never leaves a readable half-file.
    Each partition's metadata carries its row count and content hash; the column schema is
    on the last partition a run writes (all of a run's partitions share it).
    """

    base_path: str = Field(description="Local folder or fsspec URL (s3://bucket/lake).")

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: expected a DataFrame, got {type(obj)}"
            )
        if not context.has_asset_partitions:
            context.add_output_metadata(self._write(context, None, obj))
            return
        keys = list(context.asset_partition_keys)
        if len(keys) == 1:
            context.add_output_metadata(self._write(context, keys[0], obj))
            return
        positions = _partition_rows(obj, keys, context.asset_key.to_user_string())
        hashes = part_hashes(obj, positions)
        for index, (key, rows) in enumerate(zip(keys, positions, strict=True)):
            part = obj.take(rows).reset_index(drop=True)
            metadata = self._write(context, key, part, hashes[index])
            if index < len(keys) - 1:
                # One frame, one schema: its column schema (4 KB of a 7 KB event, stored
                # and serialised with every materialisation) goes on the run's last
                # partition, the latest materialisation that the UI's asset page reads.
                del metadata[COLUMN_SCHEMA]
            context.step_context.add_asset_metadata(
                metadata, asset_key=context.asset_key, partition_key=key
            )

    def load_input(self, context: InputContext) -> pd.DataFrame:
        upstream_key = context.asset_key
        if not context.has_asset_partitions:
            return self._read(self._path(upstream_key.path, None), upstream_key.to_user_string())
        frames = [
            self._read(
                self._path(upstream_key.path, key), f"{upstream_key.to_user_string()}[{key}]"
            )
            for key in context.asset_partition_keys
        ]
        if not frames:
            raise ValueError(f"{upstream_key.to_user_string()}: no partitions requested")
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def read(self, asset_path: Sequence[str], partition: str | None = None) -> pd.DataFrame:
        return self._read(self._path(asset_path, partition), "/".join(asset_path))

    def _path(self, asset_path: Sequence[str], partition: str | None) -> str:
        return lake_path(self.base_path, asset_path, partition)

    def _write(
        self,
        context: OutputContext,
        partition: str | None,
        frame: pd.DataFrame,
        content_hash: str | None = None,
    ) -> dict[str, Any]:
        path = self._path(context.asset_key.path, partition)
        atomic_write(path, lambda handle: frame.to_parquet(handle, index=False))
        return {
            "dagster/row_count": len(frame),
            COLUMN_SCHEMA: _table_schema(frame),
            "content_hash": content_hash or frame_hash(frame),
            "path": MetadataValue.path(path),
        }

    @staticmethod
    def _read(path: str, label: str) -> pd.DataFrame:
        fs, fs_path = fsspec.core.url_to_fs(path)
        if not fs.exists(fs_path):
            raise FileNotFoundError(
                f"{label} has never been materialised (no file at {path}); materialise it first"
            )
        with fs.open(fs_path, "rb") as handle:
            return pd.read_parquet(handle)


class LakeResource(ConfigurableResource):
    """Read access to the lake for assets that choose their partitions at run time
    (a training set reads the days of its windows); same layout as `LakeIOManager`."""

    base_path: str = Field(description="Local folder or fsspec URL (s3://bucket/lake).")

    def read(self, asset_path: Sequence[str], partition: str | None = None) -> pd.DataFrame:
        path = lake_path(self.base_path, asset_path, partition)
        label = "/".join(asset_path) + (f"[{partition}]" if partition else "")
        return LakeIOManager._read(path, label)

    def inference_log_days(self, pipeline: str) -> dict[str, list[str]]:
        """Day -> the names of the service's inference log files for it (see
        `ml_assets.lib.inference_log`)."""
        return log_days(self.base_path, pipeline)

    def read_inference_log(self, pipeline: str, day: str) -> tuple[pd.DataFrame, int]:
        """Every record the service logged for a day, in the order served, and the number
        of files they came from."""
        return read_day(self.base_path, pipeline, day)

    def inference_error_days(self, pipeline: str) -> dict[str, list[str]]:
        """Day -> the names of the files of requests the service failed to score (see
        `ml_assets.lib.inference_errors`)."""
        return error_days(self.base_path, pipeline)

    def read_inference_errors(self, pipeline: str, days: Sequence[str]) -> pd.DataFrame:
        """The requests the service failed to score on `days`, one row per request and day."""
        return read_errors(self.base_path, pipeline, days)

    def write_report(self, asset_path: Sequence[str], name: str, content: str) -> str:
        """Store a report file (an HTML drift report) next to an asset's partitions."""
        path = f"{self.base_path.rstrip('/')}/{'/'.join(asset_path)}/{name}"
        atomic_write(path, lambda handle: handle.write(content.encode()))
        return path


def _partition_rows(frame: pd.DataFrame, keys: list[str], label: str) -> list[np.ndarray]:
    """The positions of each partition's rows in `frame` (by its event_date), in `keys`'
    order; a partition without rows gets none."""
    if EVENT_DATE not in frame.columns:
        raise ValueError(f"{label}: a multi-partition output needs an {EVENT_DATE!r} column")
    stray = set(frame[EVENT_DATE].unique()) - set(keys)
    if stray:
        raise ValueError(f"{label}: rows dated outside the run's partitions: {sorted(stray)[:5]}")
    groups = frame.groupby(EVENT_DATE, sort=False, observed=True).indices
    empty = np.empty(0, dtype=np.intp)
    return [np.asarray(groups.get(key, empty)) for key in keys]


def _table_schema(frame: pd.DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()])

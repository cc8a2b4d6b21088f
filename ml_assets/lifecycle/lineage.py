"""What a training run records about where it came from: data versions, code, config."""

import subprocess
from collections.abc import Iterable

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, DagsterInstance

from ml_assets.environment import PROJECT_ROOT
from ml_assets.keys import WINDOW
from ml_assets.lib.config import PipelineConfig, config_hash


def git_commit() -> str:
    """The commit the code runs from, with `+dirty` when the work tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def partition_versions(
    instance: DagsterInstance, key: AssetKey, days: Iterable[str]
) -> dict[str, str]:
    """Latest data version (content hash) of each requested partition of `key`."""
    wanted = sorted(set(days))
    found: dict[str, str] = {}
    cursor = None
    while len(found) < len(wanted):
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=wanted), limit=1000, cursor=cursor
        )
        for record in result.records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition in found:
                continue
            hash_value = materialization.metadata.get("content_hash")
            found[str(materialization.partition)] = str(hash_value.value) if hash_value else ""
        if not result.has_more:
            break
        cursor = result.cursor
    return dict(sorted(found.items()))


# The one "partition" of a static table in lineage records (JSON keys cannot be null).
WHOLE_TABLE = "whole table"


def table_version(instance: DagsterInstance, key: AssetKey) -> str:
    """Latest data version (content hash) of an unpartitioned asset."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    if materialization is None:
        return ""
    hash_value = materialization.metadata.get("content_hash")
    return str(hash_value.value) if hash_value else ""


def run_tags(context: AssetExecutionContext, config: PipelineConfig) -> dict[str, str]:
    """Tags every MLflow run and model version of a pipeline carries back to Dagster."""
    key = context.asset_key
    return {
        "dagster.run_id": context.run.run_id,
        "dagster.asset_key": key.to_user_string(),
        "dagster.code_version": context.assets_def.code_versions_by_key.get(key) or "",
        "pipeline": config.name,
        "config_hash": config_hash(config),
        "git_commit": git_commit(),
    }


def window_tags(training_set: pd.DataFrame) -> dict[str, str]:
    """The partition window of each split, e.g. window.train = 2013-07-20..2013-11-16 (a
    static table's: its rows)."""
    if "event_date" not in training_set.columns:
        rows = training_set[WINDOW].value_counts()
        return {f"window.{name}": f"{count} rows" for name, count in rows.items()}
    days = training_set.groupby(WINDOW)["event_date"].agg(["min", "max"])
    return {f"window.{name}": f"{row['min']}..{row['max']}" for name, row in days.iterrows()}

"""The Dagster internals this project uses, imported from `dagster._core` here only.

Dagster 1.13 does not export these publicly. Everything else imports them from this
module, so a Dagster upgrade that moves or exports one of them changes one file.

- `UnresolvedAssetJobDefinition`: the type `define_asset_job` returns (only the function
  is public); it annotates the sensor builders that are handed such a job.
- `AssetCheckExecutionRecord`, `AssetCheckExecutionRecordStatus`: what
  `instance.event_log_storage.get_asset_check_execution_history` returns and filters on,
  the only way to read every failed execution of a check. The public alternatives do not
  fit: `DagsterInstance.get_event_records` is deprecated (to break in 2.0), and
  `get_latest_asset_check_evaluation_record` sees only the latest execution.

- `SqliteEventLogStorage`, `SQLITE_BUSY_TIMEOUT_SECONDS`, `ConfigurableClassData`: the
  local instance's event log keeps its connections open (`ml_assets/instance_storage.py`);
  Dagster's class is configurable by module path in `dagster.yaml`, but not exported.

- `core_execute_in_process`, `InMemoryJob`, `merge_run_tags`: `execute_uncaptured` runs a
  job in process as `JobDefinition.execute_in_process` does, but without keeping every
  step's output value for the result. The public method always keeps them, so a run over
  a year of days held the raw, validated and feature frames of the whole range until it
  ended; the project's runs read their outputs from the lake, never from the result.

Run tag names are plain strings, not internals: see `ml_assets/run_tags.py`.
"""

from collections.abc import Mapping
from typing import Any

from dagster import DagsterInstance, ExecuteInProcessResult, JobDefinition
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.execution.execute_in_process import core_execute_in_process, merge_run_tags
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

__all__ = [
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "AssetCheckExecutionRecord",
    "AssetCheckExecutionRecordStatus",
    "ConfigurableClassData",
    "SqliteEventLogStorage",
    "UnresolvedAssetJobDefinition",
    "execute_uncaptured",
]


def execute_uncaptured(
    job: JobDefinition,
    *,
    instance: DagsterInstance,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = False,
) -> ExecuteInProcessResult:
    """`job.execute_in_process(...)` (no partition key, op or asset selection) that does not
    keep the steps' output values: the result has every event, and no `output_for_node`."""
    return core_execute_in_process(
        job=InMemoryJob(job_def=job.as_ephemeral_job(resource_defs={}, input_values={})),
        run_config=dict(run_config or {}),
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=raise_on_error,
        run_tags=merge_run_tags(
            job_def=job,
            partition_key=None,
            tags=tags,
            asset_selection=None,
            instance=instance,
            run_config=dict(run_config or {}),
        ),
        run_id=None,
        asset_selection=frozenset(),
    )

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

Run tag names are plain strings, not internals: see `ml_assets/run_tags.py`.
"""

from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
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
]

"""The automation loop in one process: what the Dagster daemon does, one tick at a time.

`SensorLoop` evaluates the code location's sensors through Dagster's sensor API, keeps
their cursors, adds and deletes the dynamic partitions they ask for, and executes their
run requests in process, honouring run keys the way the daemon does (a key that already
has a run starts nothing). The demo and the loop test drive replayed days through it
deterministically; `dagster dev` runs the same sensors for real.
"""

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    RunsFilter,
    build_sensor_context,
)

from ml_assets.run_tags import RUN_KEY_TAG, SENSOR_NAME_TAG

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class Tick:
    sensor: str
    skipped: str | None = None
    runs: list[ExecuteInProcessResult] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # run keys that already had a run


class SensorLoop:
    def __init__(self, defs: Definitions, instance: DagsterInstance) -> None:
        self.defs = defs
        self.instance = instance
        self.cursors: dict[str, str | None] = {}
        self.resources: Mapping[str, Any] = dict(defs.resources or {})

    def _change_partitions(self, changes: Any) -> None:
        """Add and delete the dynamic partitions a sensor asked for, as the daemon does."""
        for change in changes:
            keys = list(change.partition_keys)
            if isinstance(change, AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(change.partitions_def_name, keys)
            else:
                for partition in keys:
                    self.instance.delete_dynamic_partition(change.partitions_def_name, partition)

    def tick(self, sensor_name: str) -> Tick:
        """Evaluate one sensor once and run what it requests."""
        with warnings.catch_warnings():
            # Its notice that resources are no longer resolved: they are passed below.
            warnings.filterwarnings("ignore", message="Starting in dagster 1.11, get_sensor_def")
            sensor = self.defs.get_sensor_def(sensor_name)
        context = build_sensor_context(
            instance=self.instance,
            # The ref lets a run request name a dynamic partition the tick adds.
            instance_ref=None if self.instance.is_ephemeral else self.instance.get_ref(),
            cursor=self.cursors.get(sensor_name),
            sensor_name=sensor_name,
            resources=self.resources,
            definitions=self.defs,
        )
        data = sensor.evaluate_tick(context)
        self.cursors[sensor_name] = data.cursor
        self._change_partitions(data.dynamic_partitions_requests or [])
        tick = Tick(sensor_name, skipped=data.skip_message)
        for request in data.run_requests or []:
            key = request.run_key
            if key and self.instance.get_runs(RunsFilter(tags={RUN_KEY_TAG: key}), limit=1):
                tick.duplicates.append(key)
                continue
            job = self.defs.resolve_job_def(str(request.job_name or sensor.job_name))
            tags = {**request.tags, SENSOR_NAME_TAG: sensor_name}
            if key:
                tags[RUN_KEY_TAG] = key
            tick.runs.append(
                job.execute_in_process(
                    instance=self.instance,
                    partition_key=request.partition_key,
                    tags=tags,
                    # The request's own config (a rollback's trigger, an experiment's
                    # verdict), with the loop's quiet console.
                    run_config={**(request.run_config or {}), **QUIET},
                    raise_on_error=False,
                )
            )
        return tick

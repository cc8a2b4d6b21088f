"""Helpers to build and run a pipeline's definitions against a temporary lake."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    in_process_executor,
    instance_for_test,
)

from ml_assets.factory import build_pipeline_definitions
from ml_assets.keys import ingest_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.lifecycle import CandidateConfig, TrainingConfig, TuningConfig
from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from resources import build_resources
from sensors.alerting import build_alert_sensors

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_INSTANCE_YAML = PROJECT_ROOT / "configs" / "dagster" / "local.yaml"


@contextmanager
def local_test_instance(temp_dir: str | None = None) -> Iterator[DagsterInstance]:
    """A temporary instance (`dagster.instance_for_test`) with the local profile's event
    log (configs/dagster/local.yaml): Dagster's stock SQLite event log opens an engine per
    event, which was most of the time of the tests that materialise months of days."""
    local = yaml.safe_load(LOCAL_INSTANCE_YAML.read_text())
    overrides = {"event_log_storage": local["event_log_storage"]}
    with instance_for_test(temp_dir=temp_dir, overrides=overrides) as instance:
        yield instance


def pipeline_defs(
    config: PipelineConfig,
    state: Path,
    alerts_config: Path | None = None,
    mlflow_uri: str | None = None,
) -> Definitions:
    """One pipeline's definitions with every resource under `state` (MLflow's backend store
    at `mlflow_uri` when given), built like the code location's (`resources.build_resources`)."""
    return Definitions.merge(
        build_pipeline_definitions(config),
        Definitions(
            sensors=build_alert_sensors([config.name]) if config.training else [],
            resources=build_resources(
                state,
                alerts_config=alerts_config or PROJECT_ROOT / "configs" / "alerts.yaml",
                # One BentoML store for the session (tests/conftest.py): model tags carry
                # their content hash, so tests never see each other's bundles by mistake.
                bentoml_home=Path(os.environ["BENTOML_HOME"]),
                mlflow_uri=mlflow_uri,
            ),
            executor=in_process_executor,
        ),
    )


def mlflow_client(defs: Definitions) -> Any:
    """A plain MLflow client on the registry of `defs`, for tests to look behind the
    resource's verbs (the product never uses one outside the resource)."""
    import mlflow

    uri = (defs.resources or {})["model_registry"].tracking_uri
    return mlflow.MlflowClient(uri, uri)


def run_days(
    defs: Definitions, pipeline: str, start: str, end: str, instance: DagsterInstance
) -> ExecuteInProcessResult:
    """Run the ingest job over [start, end] as one run (a single partition when equal)."""
    job = defs.resolve_job_def(ingest_job_name(pipeline))
    tags = {PARTITION_RANGE_START_TAG: start, PARTITION_RANGE_END_TAG: end}
    return job.execute_in_process(
        instance=instance,
        tags=tags if start != end else None,
        partition_key=start if start == end else None,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def rows_by_partition(result: ExecuteInProcessResult, asset: str) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key.path[-1] == asset:
            value = mat.metadata["dagster/row_count"].value
            assert isinstance(value, int)
            counts[mat.partition] = value
    return counts


def failed_checks(result: ExecuteInProcessResult) -> dict[str, str | None]:
    return {
        f"{e.asset_key.path[-1]}.{e.check_name}": e.description
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def small_training(candidates: dict[str, CandidateConfig], **changes: Any) -> TrainingConfig:
    """A training on 2013-03 small enough for a test: 10 days, 4000 rows, two trials."""
    return TrainingConfig(
        as_of=date(2013, 3, 18),
        train_days=10,
        validation_days=4,
        test_days=4,
        max_train_rows=4000,
        seed=7,
        slice_columns=["carrier", "origin"],
        tuning=TuningConfig(n_trials=2, timeout_seconds=60, pruning_warmup_steps=2),
        candidates=candidates,
        **changes,
    )

"""The code location: every pipeline under configs/pipelines/, plus shared resources.

This is the only place that assembles definitions and applies project-wide policy
(executor, resources).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from dagster import (
    BetaWarning,
    Definitions,
    MetadataValue,
    PreviewWarning,
    definitions,
    in_process_executor,
)

from ml_assets import environment
from ml_assets.factory import build_pipeline_definitions
from ml_assets.lib.config import load_pipeline_folder
from resources import build_resources
from sensors.alerting import build_alert_sensors

logger = logging.getLogger(__name__)

# Single-run backfill policies, user data versions and pandera types are deliberate
# choices (see README); their beta notices would otherwise repeat on every load and run.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
# The daily job mixes single-run assets with multi_run(1) monitoring assets; it runs one
# partition per run by construction, which is what Dagster's notice settles on.
warnings.filterwarnings("ignore", message=r"Asset job \S+ materializes assets with varying")


def build_definitions(pipelines_dir: Path | None = None) -> Definitions:
    """Every pipeline of the folder, each built on its own: a broken pipeline file is
    logged with its error (file and key path) and listed in the code location's metadata,
    and the other pipelines load, run and serve as before. `mlap check` fails on it."""
    folder = pipelines_dir or environment.pipelines_dir()
    loaded = load_pipeline_folder(folder)
    errors = dict(loaded.errors)
    pipelines: list[Definitions] = []
    configs = []
    step_pods = environment.step_pod_jobs()
    for config in loaded.configs:
        try:
            pipelines.append(build_pipeline_definitions(config, step_pods=step_pods))
        except Exception as exc:  # a factory error in one pipeline spares the others
            errors[folder / f"{config.name}.yaml"] = f"{config.name}: {type(exc).__name__}: {exc}"
            continue
        configs.append(config)
    for path, error in errors.items():
        logger.error("pipeline %s not loaded: %s", path.name, error)
    shared = Definitions(
        sensors=build_alert_sensors([c.name for c in configs if c.training is not None]),
        resources=platform_resources(),
        # Runs execute in the run's own process: a step subprocess pays 15+ s of imports on
        # 2 cores. In production the jobs MLAP_STEP_PODS names run each step in its own pod
        # (k8s_job_executor, set by the factory).
        executor=in_process_executor,
        metadata=_errors_metadata(errors),
    )
    return Definitions.merge(*pipelines, shared)


def platform_resources() -> dict[str, Any]:
    """The shared resources, where the running profile (`ml_assets.environment`) puts the
    platform's state."""
    return build_resources(
        environment.state_dir(),
        alerts_config=environment.alerts_config(),
        lake_url=environment.lake_url(),
        mlflow_uri=environment.mlflow_uri(),
        landing_dir=environment.landing_dir(),
        bentoml_home=environment.bentoml_home(),
        mlflow_artifacts=environment.mlflow_artifacts_url(),
        study_database=environment.study_database(),
    )


def _errors_metadata(errors: dict[Path, str]) -> dict[str, Any]:
    if not errors:
        return {}
    listing = "\n\n".join(f"**{path.name}**\n\n```\n{error}\n```" for path, error in errors.items())
    return {"broken_pipeline_files": MetadataValue.md(listing)}


@definitions
def defs() -> Definitions:
    """The code location workspace.yaml names, built when Dagster loads it (not on import),
    from the environment of that moment."""
    return build_definitions()

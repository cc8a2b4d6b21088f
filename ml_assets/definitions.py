"""The code location: every pipeline under configs/pipelines/, plus shared resources.

This is the only place that assembles definitions and applies project-wide policy
(executor, resources).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from dagster import BetaWarning, Definitions, PreviewWarning, in_process_executor

from ml_assets import environment
from ml_assets.factory import build_pipeline_definitions
from ml_assets.lib.config import load_pipeline_config
from resources import build_resources
from sensors.alerting import build_alert_sensors

# Single-run backfill policies, user data versions and pandera types are deliberate
# choices (see README); their beta notices would otherwise repeat on every load and run.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
# The daily job mixes single-run assets with multi_run(1) monitoring assets; it runs one
# partition per run by construction, which is what Dagster's notice settles on.
warnings.filterwarnings("ignore", message=r"Asset job \S+ materializes assets with varying")


def pipeline_files(folder: Path) -> list[Path]:
    """Pipeline YAMLs in `folder`; names starting with '_' are bases for `extends:`."""
    return sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_"))


def build_definitions(pipelines_dir: Path | None = None) -> Definitions:
    folder = pipelines_dir or environment.pipelines_dir()
    configs = [load_pipeline_config(p) for p in pipeline_files(folder)]
    pipelines = [build_pipeline_definitions(config) for config in configs]
    shared = Definitions(
        sensors=build_alert_sensors([c.name for c in configs if c.training is not None]),
        resources=build_resources(
            environment.state_dir(),
            alerts_config=environment.alerts_config(),
            lake_url=environment.lake_url(),
            mlflow_uri=environment.mlflow_uri(),
            landing_dir=environment.landing_dir(),
            bentoml_home=environment.bentoml_home(),
        ),
        # Local runs execute in the run's own process: a step subprocess pays 15+ s of
        # imports on 2 cores. Production swaps in the k8s_job_executor (deploy/).
        executor=in_process_executor,
    )
    return Definitions.merge(*pipelines, shared)


defs = build_definitions()

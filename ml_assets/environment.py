"""Where the platform keeps its state and finds its configs: decided here only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """All local state (Dagster home, lake, MLflow, BentoML, landing zone) lives here."""
    return Path(os.environ.get("MLAP_STATE_DIR", PROJECT_ROOT / "var")).resolve()


def pipelines_dir() -> Path:
    return Path(os.environ.get("MLAP_PIPELINES_DIR", PROJECT_ROOT / "configs" / "pipelines"))


def alerts_config() -> Path:
    return Path(os.environ.get("MLAP_ALERTS_CONFIG", PROJECT_ROOT / "configs" / "alerts.yaml"))


def lake_url() -> str:
    """Base of the lake: a local folder by default, any fsspec URL via MLAP_LAKE_URL."""
    return os.environ.get("MLAP_LAKE_URL", str(state_dir() / "lake"))


def mlflow_uri() -> str:
    """MLflow tracking and registry: a SQLite file under the state folder by default."""
    default = f"sqlite:///{state_dir() / 'mlflow' / 'mlflow.db'}"
    if "MLAP_MLFLOW_URI" not in os.environ:
        (state_dir() / "mlflow").mkdir(parents=True, exist_ok=True)
    return os.environ.get("MLAP_MLFLOW_URI", default)


def bentoml_home() -> Path:
    """BentoML's model and bento store, outside every build context (a build's include
    patterns would otherwise sweep the store into the bento):
    BENTOML_HOME when set, as for BentoML's own commands, else under the state folder."""
    return Path(os.environ.get("BENTOML_HOME") or state_dir() / "bentoml")


def landing_dir() -> Path:
    return Path(os.environ.get("MLAP_LANDING_DIR", state_dir() / "landing"))


def dagster_home() -> Path:
    """DAGSTER_HOME if set, else the state folder's; created with the local dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or state_dir() / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        shutil.copyfile(PROJECT_ROOT / "configs" / "dagster" / "local.yaml", instance_yaml)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def quiet_telemetry() -> None:
    """Switch off every tool's usage reporting for this process and its children."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


TELEMETRY_OFF = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "BENTOML_DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    # Not telemetry, but noise: a progress bar for every model file MLflow reads back.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}

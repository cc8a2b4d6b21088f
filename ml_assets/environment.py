"""Where the platform keeps its state and finds its configs: decided here only.

Two profiles, chosen by `MLAP_PROFILE`:

- `local` (the default): every piece of state in files under the state folder (SQLite for
  Dagster and MLflow, a folder lake, file locks, in-memory Optuna studies).
- `production`: the state that processes on several hosts (pods) share lives in
  PostgreSQL and object storage. `MLAP_DATABASE_URL` (a `postgresql+psycopg2://` URL) is
  MLflow's backend store, and so the promotion lock is an advisory lock in that database
  (`resources.locks` decides by the URL); Optuna studies live in the database of the same
  name plus `_optuna` on that server, with the same credentials; the lake is at
  `MLAP_LAKE_URL` (any fsspec URL) and MLflow's artifacts under `<lake>/_mlflow` unless
  `MLAP_MLFLOW_ARTIFACTS_URL` says otherwise; the state folder (`MLAP_STATE_DIR`: bento
  store, decision log, alert state, landing zone) must be a shared volume; Dagster's own
  storage is the instance's `dagster.yaml` in DAGSTER_HOME (deploy/dagster.yaml), never a
  local one made here. A missing or malformed setting is an error naming the variable.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LOCAL = "local"
PRODUCTION = "production"
DATABASE_URL = "MLAP_DATABASE_URL"
DATABASE_SCHEME = "postgresql+psycopg2"
STUDY_DATABASE_SUFFIX = "_optuna"
# The job kinds whose steps may each run in their own pod (MLAP_STEP_PODS, production only).
STEP_POD_JOB_KINDS = ("ingest", "train", "predict", "daily")

_NEEDED = {
    DATABASE_URL: f"a {DATABASE_SCHEME}://user:password@host:port/database URL of the "
    "database that holds MLflow's backend store",
    "MLAP_LAKE_URL": "the lake's base, an fsspec URL such as s3://bucket/lake",
    "MLAP_STATE_DIR": "a folder on a volume every pod of the platform mounts",
    "DAGSTER_HOME": "the folder of the production dagster.yaml (deploy/dagster.yaml)",
}


class ProfileError(ValueError):
    """A setting the selected profile needs is missing or malformed."""


def profile() -> str:
    """The running profile: `MLAP_PROFILE`, `local` when unset."""
    name = os.environ.get("MLAP_PROFILE", LOCAL)
    if name not in (LOCAL, PRODUCTION):
        raise ProfileError(f"MLAP_PROFILE={name!r}: expected {LOCAL!r} or {PRODUCTION!r}")
    return name


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ProfileError(f"MLAP_PROFILE=production needs {name}: {_NEEDED[name]}")
    return value


def database_url() -> str:
    """The production database's URL (MLAP_DATABASE_URL), checked for the psycopg2 driver:
    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which the platform does not ship."""
    url = _required(DATABASE_URL)
    if not url.startswith(f"{DATABASE_SCHEME}://"):
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"
        raise ProfileError(
            f"{DATABASE_URL} must start with {DATABASE_SCHEME}:// (got {scheme}): "
            f"{_NEEDED[DATABASE_URL]}"
        )
    return url


def state_dir() -> Path:
    """All local state (Dagster home, lake, MLflow, BentoML, landing zone) lives here."""
    if profile() == PRODUCTION:
        return Path(_required("MLAP_STATE_DIR")).resolve()
    return Path(os.environ.get("MLAP_STATE_DIR", PROJECT_ROOT / "var")).resolve()


def pipelines_dir() -> Path:
    return Path(os.environ.get("MLAP_PIPELINES_DIR", PROJECT_ROOT / "configs" / "pipelines"))


def alerts_config() -> Path:
    return Path(os.environ.get("MLAP_ALERTS_CONFIG", PROJECT_ROOT / "configs" / "alerts.yaml"))


def lake_url() -> str:
    """Base of the lake: a local folder by default, any fsspec URL via MLAP_LAKE_URL
    (required in production)."""
    if profile() == PRODUCTION:
        return _required("MLAP_LAKE_URL")
    return os.environ.get("MLAP_LAKE_URL", str(state_dir() / "lake"))


def mlflow_uri() -> str:
    """MLflow tracking and registry: a SQLite file under the state folder by default.

    In production the database of MLAP_DATABASE_URL, as a `dagster.EnvVar`: resources
    resolve it when they start, and the UI shows the variable's name, not the password."""
    if profile() == PRODUCTION:
        from dagster import EnvVar

        if "MLAP_MLFLOW_URI" in os.environ:
            raise ProfileError(
                f"MLAP_MLFLOW_URI is a local-profile setting: in production MLflow's backend "
                f"store is {DATABASE_URL}"
            )
        database_url()
        return EnvVar(DATABASE_URL)
    default = f"sqlite:///{state_dir() / 'mlflow' / 'mlflow.db'}"
    if "MLAP_MLFLOW_URI" not in os.environ:
        (state_dir() / "mlflow").mkdir(parents=True, exist_ok=True)
    return os.environ.get("MLAP_MLFLOW_URI", default)


def mlflow_artifacts_url() -> str | None:
    """Where MLflow keeps run artifacts: None locally (the state folder's), in production
    MLAP_MLFLOW_ARTIFACTS_URL or `<lake>/_mlflow` (MLflow must know the lake's scheme: s3,
    gs, wasbs, abfss, hdfs or a path; else set the variable)."""
    if profile() != PRODUCTION:
        return None
    explicit = os.environ.get("MLAP_MLFLOW_ARTIFACTS_URL", "").strip()
    return explicit or f"{lake_url().rstrip('/')}/_mlflow"


def study_database() -> str | None:
    """The database of shared Optuna studies on the production server (None locally:
    each pipeline's `training.tuning.storage`, in memory by default). Its own database, as
    MLflow and Optuna both keep their schema version in an `alembic_version` table."""
    if profile() != PRODUCTION:
        return None
    from sqlalchemy.engine import make_url

    name = make_url(database_url()).database
    if not name:
        raise ProfileError(f"{DATABASE_URL} names no database: {_NEEDED[DATABASE_URL]}")
    return f"{name}{STUDY_DATABASE_SUFFIX}"


def step_pod_jobs() -> frozenset[str]:
    """The job kinds whose steps each run in their own Kubernetes pod (`k8s_job_executor`):
    MLAP_STEP_PODS, a comma-separated subset of STEP_POD_JOB_KINDS, production only (the
    executor needs the K8sRunLauncher of deploy/dagster.yaml). Other jobs run their steps
    in the run's own process."""
    text = os.environ.get("MLAP_STEP_PODS", "")
    kinds = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(kinds - set(STEP_POD_JOB_KINDS))
    if unknown:
        raise ProfileError(
            f"MLAP_STEP_PODS: unknown job kind(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(STEP_POD_JOB_KINDS)}"
        )
    if kinds and profile() != PRODUCTION:
        raise ProfileError("MLAP_STEP_PODS needs MLAP_PROFILE=production (Kubernetes)")
    return kinds


def bentoml_home() -> Path:
    """BentoML's model and bento store, outside every build context (a build's include
    patterns would otherwise sweep the store into the bento):
    BENTOML_HOME when set, as for BentoML's own commands, else under the state folder."""
    return Path(os.environ.get("BENTOML_HOME") or state_dir() / "bentoml")


def landing_dir() -> Path:
    return Path(os.environ.get("MLAP_LANDING_DIR", state_dir() / "landing"))


def dagster_home() -> Path:
    """DAGSTER_HOME if set, else the state folder's; created with the local dagster.yaml.
    In production DAGSTER_HOME must already hold the production instance's dagster.yaml:
    a local SQLite instance made here would silently split the run history."""
    if profile() == PRODUCTION:
        home = Path(_required("DAGSTER_HOME"))
        if not (home / "dagster.yaml").is_file():
            raise ProfileError(
                f"MLAP_PROFILE=production: {home / 'dagster.yaml'} does not exist "
                f"(DAGSTER_HOME: {_NEEDED['DAGSTER_HOME']})"
            )
        return home
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
    # Not telemetry either: OpenMP threads (XGBoost, scikit-learn) spin while they wait by
    # default, stealing the cores of every other process of the platform (runs, the served
    # champion, a second training). Two tuning tests on a busy 2-core machine: 48 s and
    # 37 s of CPU spinning, 30 s and 19 s waiting passively.
    "OMP_WAIT_POLICY": "PASSIVE",
}

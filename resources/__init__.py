"""The platform's resources, and the one function that builds them for a state folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_resources(
    state: Path,
    *,
    alerts_config: Path,
    lake_url: str | None = None,
    mlflow_uri: str | None = None,
    landing_dir: Path | None = None,
    bentoml_home: Path | None = None,
    mlflow_artifacts: str | None = None,
    study_database: str | None = None,
) -> dict[str, Any]:
    """Every resource of the code location, all state under `state` unless a location is
    given: the code location and the tests build theirs here, so they cannot drift apart.
    `study_database` names the database, on the MLflow store's PostgreSQL server, of the
    Optuna studies that processes share (the production profile)."""
    from resources.alerts import AlertsResource
    from resources.audit_store import AuditStoreResource
    from resources.bento_store import BentoStoreResource
    from resources.lake import LakeIOManager, LakeResource
    from resources.model_registry import ModelRegistryResource
    from resources.refs import RefIOManager
    from resources.sources import SourcesResource

    lake = lake_url or str(state / "lake")
    if mlflow_uri is None:
        (state / "mlflow").mkdir(parents=True, exist_ok=True)  # SQLite makes no folders
    return {
        "io_manager": LakeIOManager(base_path=lake),
        "refs_io_manager": RefIOManager(base_path=f"{lake.rstrip('/')}/_refs"),
        "lake": LakeResource(base_path=lake),
        "sources": SourcesResource(landing_root=str(landing_dir or state / "landing")),
        "model_registry": ModelRegistryResource(
            tracking_uri=mlflow_uri or f"sqlite:///{state / 'mlflow' / 'mlflow.db'}",
            artifact_root=mlflow_artifacts or str(state / "mlflow" / "artifacts"),
            lock_dir=str(state / "locks"),
            study_database=study_database,
        ),
        "bento_store": BentoStoreResource(home=str(bentoml_home or state / "bentoml")),
        "audit_store": AuditStoreResource(root=str(state / "audit")),
        "alerts": AlertsResource(
            config_path=str(alerts_config), state_path=str(state / "alerts" / "alerts.db")
        ),
    }

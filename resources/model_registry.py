"""MLflow tracking and model registry, as a typed resource.

Why not dagster-mlflow's `mlflow_tracking`: it is a legacy resource (reached through
`required_resource_keys`, not a typed parameter) and leaves the MLflow run RUNNING unless
every job carries its end hook. This resource opens runs in a context manager that always
ends them (FINISHED, or FAILED with the error), and owns the registry's alias moves.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
DECISION_LOG_HEAD = "decision_log_head"


def prefixed(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of an MLflow tag or metric map under `prefix`, with the prefix removed:
    `prefixed(tags, "window.")` gives {"train": "2013-07-23..2013-11-19", ...}."""
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


class ModelRegistryResource(ConfigurableResource):
    """MLflow runs and registered models of every pipeline (SQLite file by default)."""

    tracking_uri: str = Field(description="MLflow tracking URI, e.g. sqlite:////abs/mlflow.db.")
    artifact_root: str = Field(description="Folder or URL under which run artifacts are stored.")
    lock_dir: str = Field(description="Folder of the promotion locks (one file per pipeline).")
    decision_log_dir: str = Field(
        description="Folder of the hash-chained decision logs (one JSON Lines file per pipeline)."
    )

    def client(self) -> MlflowClient:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.MlflowClient(self.tracking_uri, self.tracking_uri)

    def experiment_id(self, pipeline: str) -> str:
        client = self.client()
        experiment = client.get_experiment_by_name(pipeline)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = f"{self.artifact_root.rstrip('/')}/{pipeline}"
        if "://" not in location:
            location = Path(location).resolve().as_uri()
        return str(client.create_experiment(pipeline, artifact_location=location))

    @contextmanager
    def run(
        self,
        pipeline: str,
        run_name: str,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
    ) -> Iterator[Run]:
        """An MLflow run that is FINISHED on success and FAILED on any error, never left open."""
        client = self.client()
        tags = dict(tags)
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(self.experiment_id(pipeline), run_name=run_name, tags=tags)
        try:
            yield run
        except BaseException as exc:
            client.set_tag(run.info.run_id, "error", f"{type(exc).__name__}: {exc}"[:4000])
            client.set_terminated(run.info.run_id, status="FAILED")
            raise
        client.set_terminated(run.info.run_id, status="FINISHED")

    def register(
        self, pipeline: str, run_id: str, artifact_path: str, tags: Mapping[str, str]
    ) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.get_registered_model(pipeline)
        except MlflowException:
            client.create_registered_model(pipeline, description=f"Models of pipeline {pipeline}")
        source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
        return client.create_model_version(pipeline, source=source, run_id=run_id, tags=dict(tags))

    def version_by_alias(self, pipeline: str, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(pipeline, alias)
        except MlflowException:
            return None

    def set_alias(self, pipeline: str, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(pipeline, alias, version)

    def tag_version(self, pipeline: str, version: str, tags: Mapping[str, Any]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(pipeline, version, key, str(value))

    def download(self, version: ModelVersion, into: Path) -> Path:
        import mlflow

        self.client()
        return Path(
            mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(into))
        )

    def decision_log(self, pipeline: str) -> Path:
        return Path(self.decision_log_dir) / f"{pipeline}.jsonl"

    def anchored_head(self, pipeline: str) -> str | None:
        """The decision log's last entry hash as recorded in the registry (the anchor)."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client().get_registered_model(pipeline)
        except MlflowException:
            return None
        return model.tags.get(DECISION_LOG_HEAD)

    def anchor_head(self, pipeline: str, entry_hash: str) -> None:
        self.client().set_registered_model_tag(pipeline, DECISION_LOG_HEAD, entry_hash)

    @contextmanager
    def promotion_lock(self, pipeline: str) -> Iterator[None]:
        """Serialises champion decisions of one pipeline across processes on this host.

        MLflow aliases have no compare-and-set, so the decision (read champion, compare,
        move aliases) runs entirely inside this lock.
        """
        folder = Path(self.lock_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{pipeline}.promotion.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

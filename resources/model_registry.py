"""MLflow tracking and model registry, as a typed resource that offers verbs, not a client.

Why not dagster-mlflow's `mlflow_tracking`: it is a legacy resource (reached through
`required_resource_keys`, not a typed parameter) and leaves the MLflow run RUNNING unless
every job carries its end hook. This resource opens runs in a context manager that always
ends them (FINISHED, or FAILED with the error), owns the registry's alias moves, and is the
one path by which a model's files are read back: downloaded, hash-verified and loaded once
per run (a resource instance lives for one run), whoever asks.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from ml_assets.lib.problems import Problem, ProblemKind
from ml_assets.lib.refs import ModelRef
from resources.locks import promotion_lock

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from ml_assets.lib.artifacts import LoadedModel

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
DECISION_LOG_HEAD = "decision_log_head"
MODEL_DIR = "model"


def prefixed(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of an MLflow tag or metric map under `prefix`, with the prefix removed:
    `prefixed(tags, "window.")` gives {"train": "2013-07-23..2013-11-19", ...}."""
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


@dataclass(frozen=True)
class RunRecord:
    """What an MLflow run recorded: tags, parameters and latest metrics."""

    run_id: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]


class ModelRegistryResource(ConfigurableResource):
    """MLflow runs and registered models of every pipeline (SQLite file by default)."""

    tracking_uri: str = Field(description="MLflow tracking URI, e.g. sqlite:////abs/mlflow.db.")
    artifact_root: str = Field(description="Folder or URL under which run artifacts are stored.")
    lock_dir: str = Field(description="Folder of the promotion locks (one file per pipeline).")
    study_database: str | None = Field(
        None,
        description="Database on the tracking store's PostgreSQL server (same credentials) "
        "that holds the Optuna studies of tunings, shared by processes; unset: each "
        "pipeline's `training.tuning.storage`.",
    )

    _loaded: dict[str, Any] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """A fresh model cache for every run: a model is loaded once per run, and a
        long-lived code server does not keep every model it ever scored."""
        self._loaded = {}

    @contextmanager
    def run(
        self,
        pipeline: str,
        run_name: str,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
    ) -> Iterator[str]:
        """An MLflow run (its id) that is FINISHED on success and FAILED on any error."""
        client = self._client()
        tags = dict(tags)
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(self._experiment_id(pipeline), run_name=run_name, tags=tags)
        run_id = str(run.info.run_id)
        try:
            yield run_id
        except BaseException as exc:
            client.set_tag(run_id, "error", f"{type(exc).__name__}: {exc}"[:4000])
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FINISHED")

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        client = self._client()
        for name, value in params.items():
            client.log_param(run_id, name, value)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float | None]) -> None:
        """Log the defined metrics (None and NaN are skipped: MLflow cannot show them).
        Characters MLflow refuses in a name (e.g. the brackets of `recall[<class>]`) become
        slashes or underscores."""
        client = self._client()
        for name, value in metrics.items():
            if value is not None and not np.isnan(float(value)):
                client.log_metric(run_id, mlflow_name(name), float(value))

    def log_files(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        """Attach a file, or every file of a folder, to a run's artifacts."""
        client = self._client()
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path)
        else:
            client.log_artifact(run_id, str(path), artifact_path)

    def tag_run(self, run_id: str, tags: Mapping[str, Any]) -> None:
        client = self._client()
        for key, value in tags.items():
            client.set_tag(run_id, key, str(value)[:5000])

    def run_record(self, run_id: str) -> RunRecord:
        data = self._client().get_run(run_id).data
        return RunRecord(run_id, dict(data.tags), dict(data.params), dict(data.metrics))

    def fetch_files(self, run_id: str, artifact_path: str, into: Path) -> Path | None:
        """Download a run's artifact folder into `into`; None when the run has none."""
        client = self._client()
        if not client.list_artifacts(run_id, artifact_path):
            return None
        return Path(client.download_artifacts(run_id, artifact_path, str(into)))

    def register(self, model: ModelRef, tags: Mapping[str, str]) -> ModelRef:
        """A new version of the pipeline's registered model, from the run's `model/` files."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            client.get_registered_model(model.pipeline)
        except MlflowException:
            client.create_registered_model(
                model.pipeline, description=f"Models of pipeline {model.pipeline}"
            )
        source = f"{client.get_run(model.mlflow_run_id).info.artifact_uri}/{MODEL_DIR}"
        version = client.create_model_version(
            model.pipeline,
            source=source,
            run_id=model.mlflow_run_id,
            tags={**tags, **_identity_tags(model)},
        )
        return model.registered_as(str(version.version))

    def version(self, pipeline: str, version: str) -> ModelRef:
        return _ref(pipeline, self._client().get_model_version(pipeline, str(version)))

    def by_alias(self, pipeline: str, alias: str) -> ModelRef | None:
        from mlflow.exceptions import MlflowException

        try:
            found = self._client().get_model_version_by_alias(pipeline, alias)
        except MlflowException:
            return None
        return _ref(pipeline, found)

    def versions(self, pipeline: str) -> list[ModelRef]:
        found = self._client().search_model_versions(f"name='{pipeline}'")
        return sorted((_ref(pipeline, v) for v in found), key=lambda m: int(m.version or 0))

    def version_tags(self, pipeline: str, version: str) -> dict[str, str]:
        return dict(self._client().get_model_version(pipeline, str(version)).tags)

    def set_alias(self, pipeline: str, alias: str, version: str) -> None:
        self._client().set_registered_model_alias(pipeline, alias, str(version))

    def tag_version(self, pipeline: str, version: str, tags: Mapping[str, Any]) -> None:
        client = self._client()
        for key, value in tags.items():
            client.set_model_version_tag(pipeline, str(version), key, str(value))

    def load(self, model: ModelRef) -> LoadedModel:
        """The model's files downloaded, every hash checked against its manifest, loaded;
        once per run whoever asks (keyed by the manifest's hash, i.e. by content)."""
        from ml_assets.lib.artifacts import load_model

        cached = self._loaded.get(model.manifest_sha256)
        if cached is None:
            with tempfile.TemporaryDirectory() as folder:
                local = self.fetch_model_files(model, Path(folder))
                cached = load_model(local, expected_manifest_sha256=model.manifest_sha256)
            self._loaded[model.manifest_sha256] = cached
        return cached

    def score(
        self, model: ModelRef, frame: pd.DataFrame, problem: Problem | None = None
    ) -> np.ndarray:
        """Predictions of `model` for the rows of `frame`, in the problem type's shape
        (positive-class probabilities when no problem is given)."""
        from ml_assets.lib.artifacts import predict_proba

        loaded = self.load(model)
        if problem is None or problem.kind == ProblemKind.BINARY:
            return predict_proba(loaded, frame)
        return problem.predict(loaded.model, loaded.spec.matrix(frame))

    def fetch_model_files(self, model: ModelRef, into: Path) -> Path:
        """The model's files in `into`, verified against its manifest hash (for packaging);
        a text pipeline's bundle against its bundle hash, every file of it checked."""
        from ml_assets.lib.artifacts import verify_folder
        from ml_assets.lib.text.bundle import BUNDLE_FILE, verify_text_bundle

        if not model.manifest_sha256:
            raise ValueError(f"{model.label} has no manifest hash: refusing it")
        local = self.fetch_files(model.mlflow_run_id, MODEL_DIR, into)
        if local is None:
            raise FileNotFoundError(f"{model.label}: run {model.mlflow_run_id} has no model files")
        if (local / BUNDLE_FILE).is_file():
            verify_text_bundle(local, model.manifest_sha256)
        else:
            verify_folder(local, model.manifest_sha256)
        return local

    def anchored_head(self, pipeline: str) -> str | None:
        """The decision log's last entry hash as recorded in the registry (the anchor)."""
        from mlflow.exceptions import MlflowException

        try:
            model = self._client().get_registered_model(pipeline)
        except MlflowException:
            return None
        return model.tags.get(DECISION_LOG_HEAD)

    def anchor_head(self, pipeline: str, entry_hash: str) -> None:
        self._client().set_registered_model_tag(pipeline, DECISION_LOG_HEAD, entry_hash)

    @contextmanager
    def promotion_lock(self, pipeline: str) -> Iterator[None]:
        """Serialises champion decisions of one pipeline across processes.

        MLflow aliases have no compare-and-set, so the decision (read champion, compare,
        move aliases) runs entirely inside this lock (see `resources.locks`).
        """
        with promotion_lock(self._tracking_uri(), Path(self.lock_dir), pipeline):
            yield

    def study_storage(self) -> str | None:
        """The URL of the shared Optuna study database, or None when there is none."""
        if self.study_database is None:
            return None
        from sqlalchemy.engine import make_url

        url = make_url(self._tracking_uri()).set(database=self.study_database)
        return url.render_as_string(hide_password=False)

    def _tracking_uri(self) -> str:
        """The tracking URI. Inside a run Dagster has resolved an `EnvVar` (the production
        profile's database URL) already; outside one (the CLI) it is resolved here."""
        uri = self.tracking_uri
        if not isinstance(uri, EnvVar):
            return uri
        value = uri.get_value()
        if not value:
            raise RuntimeError(f"model_registry: environment variable {uri.env_var_name} is unset")
        return value

    def _client(self) -> MlflowClient:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        import mlflow

        uri = self._tracking_uri()
        return mlflow.MlflowClient(uri, uri)

    def _experiment_id(self, pipeline: str) -> str:
        client = self._client()
        experiment = client.get_experiment_by_name(pipeline)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = f"{self.artifact_root.rstrip('/')}/{pipeline}"
        if "://" not in location:
            location = Path(location).resolve().as_uri()
        return str(client.create_experiment(pipeline, artifact_location=location))


def _identity_tags(model: ModelRef) -> dict[str, str]:
    tags = {
        "family": model.family,
        "manifest_sha256": model.manifest_sha256,
        "decision_threshold": repr(model.threshold),
        "decision_threshold_reason": model.threshold_reason[:5000],
        "validation_metric": model.metric,
        "fitted_on": model.fitted_on,
    }
    if model.validation_score is not None:
        tags[f"validation_{model.metric}"] = f"{model.validation_score:.6f}"
    if model.interval_halfwidth is not None:
        tags["interval_halfwidth"] = repr(model.interval_halfwidth)
        tags["interval_level"] = repr(model.interval_level)
    return tags


def _ref(pipeline: str, version: Any) -> ModelRef:
    tags = dict(version.tags)
    metric = tags.get("validation_metric", "roc_auc")
    score = tags.get(f"validation_{metric}")
    threshold = tags.get("decision_threshold")
    halfwidth, level = tags.get("interval_halfwidth"), tags.get("interval_level")
    return ModelRef(
        pipeline=pipeline,
        family=tags.get("family", ""),
        mlflow_run_id=str(version.run_id or ""),
        manifest_sha256=tags.get("manifest_sha256", ""),
        version=str(version.version),
        validation_score=float(score) if score else None,
        metric=metric,
        # Versions registered before thresholds were chosen were served at 0.5.
        threshold=_number(threshold) if threshold else 0.5,
        threshold_reason=tags.get("decision_threshold_reason", ""),
        interval_halfwidth=_number(halfwidth),
        interval_level=_number(level),
        fitted_on=tags.get("fitted_on", "train"),  # versions before refitting: train only
    )


def mlflow_name(name: str) -> str:
    """`recall[large]` -> `recall/large`; anything else MLflow refuses -> `_`."""
    name = name.replace("[", "/").replace("]", "")
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", name)


def _number(text: str | None) -> float | None:
    """A float tag written with repr (None for a model that has no such value)."""
    return None if text in (None, "", "None") else float(text)

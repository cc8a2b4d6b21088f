"""Package a registered champion for serving: bundle -> BentoML model -> bento."""

import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ml_assets import environment
from ml_assets.assets.reference import REFERENCE_DIR, REFERENCE_FILE
from ml_assets.lib.artifacts import load_model
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.scoring import serving_columns, write_bundle
from ml_assets.lifecycle.passport import passport_id
from resources.lake import LakeResource
from resources.model_registry import ModelRegistryResource, prefixed

SERVICE = "bentos.service:ChampionService"
# What the service imports; pinned to the versions this platform runs, never resolved
# online at build time (`lock_packages: false`, see FACTS.md).
SERVING_PACKAGES = (
    "bentoml",
    "pandas",
    "pyarrow",
    "numpy",
    "scikit-learn",
    "xgboost",
    "skops",
    "pydantic",
    "pyyaml",
    "scipy",
    "shap",
    "matplotlib",
)


def bento_tag(pipeline: str, version: str, manifest_sha256: str) -> str:
    """`flight_delays:v3-1a2b3c4d`: the registered version and the model's content hash, so
    a registry rebuilt from scratch (version numbers reused) never reuses a stale bento."""
    return f"{pipeline}:v{version}-{manifest_sha256[:8]}"


def export_bundle(
    registry: ModelRegistryResource,
    lake: LakeResource,
    config: PipelineConfig,
    version: str,
    folder: Path,
) -> dict[str, Any]:
    """Write the serving bundle of registered `version` into `folder` (hashes verified)."""
    client = registry.client()
    model_version = client.get_model_version(config.name, version)
    expected = model_version.tags.get("manifest_sha256", "")
    with tempfile.TemporaryDirectory() as scratch:
        local = registry.download(model_version, Path(scratch))
        loaded = load_model(local, expected_manifest_sha256=expected)
        references = {
            join.source: lake.read([config.name, f"validated_{join.source}"])
            for join in config.joins
        }
        run = client.get_run(str(model_version.run_id))
        metadata = {
            "pipeline": config.name,
            "version": str(version),
            "family": model_version.tags.get("family", loaded.manifest.flavor),
            "manifest_sha256": expected,
            "mlflow_run_id": model_version.run_id,
            "windows": prefixed(run.data.tags, "window."),
            "test_metrics": prefixed(run.data.metrics, "test_"),
            "decision": prefixed(model_version.tags, "decision."),
            "schema": {
                n: s.model_dump(mode="json", exclude_none=True)
                for n, s in serving_columns(config).items()
            },
            "example_record": example_record(lake, config),
            "passport_id": passport_id(config.name, str(version), expected),
        }
        write_bundle(folder, local, config, references, metadata, background(lake, config))
        if client.list_artifacts(str(model_version.run_id), REFERENCE_DIR):
            client.download_artifacts(str(model_version.run_id), REFERENCE_DIR, str(folder))
    return metadata


def bundle_folder(tag: str) -> Path:
    """The serving bundle inside the BentoML model of a bento tag."""
    environment.bentoml_home()
    import bentoml

    return Path(bentoml.models.get(tag).path)


def bundle_reference(folder: Path) -> pd.DataFrame:
    """The reference profile packaged with a champion; a clear error when it has none."""
    path = folder / REFERENCE_DIR / REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundle at {folder} has no reference profile ({REFERENCE_DIR}/{REFERENCE_FILE}):"
            " its model was trained before monitoring was configured; retrain to get one"
        )
    return pd.read_parquet(path)


def example_record(lake: LakeResource, config: PipelineConfig) -> dict[str, Any] | None:
    """A real event for the OpenAPI examples: the first validated row of the first day."""
    day = config.partitioning.start_date.isoformat()
    try:
        rows = lake.read([config.name, f"validated_{config.partitioning.source}"], day)
    except FileNotFoundError:
        return None
    if rows.empty:
        return None
    row = rows.iloc[0]
    record: dict[str, Any] = {}
    for name in serving_columns(config):
        value = row[name]
        if pd.isna(value):
            record[name] = None
        elif isinstance(value, pd.Timestamp):
            record[name] = value.isoformat()
        else:
            record[name] = value.item() if hasattr(value, "item") else value
    return record


def background(lake: LakeResource, config: PipelineConfig) -> pd.DataFrame | None:
    """200 feature rows of the model's training window, for model-agnostic explanations."""
    try:
        rows = lake.read([config.name, "training_set"])
    except FileNotFoundError:
        return None
    train = rows[rows["window"] == "train"]
    return train.sample(min(200, len(train)), random_state=0).reset_index(drop=True)


def existing_bento(tag: str) -> Any | None:
    environment.bentoml_home()
    import bentoml

    try:
        return bentoml.bentos.get(tag)
    except bentoml.exceptions.NotFound:
        return None


def build_bento(config: PipelineConfig, version: str, tag: str, bundle: Path) -> Any:
    """Import the bundle as a BentoML model and build the service's bento around it."""
    environment.bentoml_home()
    environment.quiet_telemetry()
    import bentoml

    try:
        bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        with bentoml.models.create(tag, labels={"pipeline": config.name}) as model:
            shutil.copytree(bundle, model.path, dirs_exist_ok=True)
    # The public build() signature types `envs` with this class but does not export it.
    from bentoml._internal.bento.build_config import BentoEnvSchema

    os.environ["MLAP_BENTO_MODEL"] = tag
    return bentoml.bentos.build(
        SERVICE,
        version=tag.split(":", 1)[1],
        build_ctx=str(environment.PROJECT_ROOT),
        include=["bentos/*.py", "ml_assets/__init__.py", "ml_assets/lib/**/*.py"],
        exclude=["**/__pycache__", "var", ".venv", "tests"],
        labels={"pipeline": config.name, "model_version": str(version)},
        description=f"Champion v{version} of pipeline `{config.name}`.",
        envs=[BentoEnvSchema(name="MLAP_BENTO_MODEL", value=tag)],
        python={"packages": _pins(), "lock_packages": False},
        docker={"python_version": "3.11"},
        models=[tag],
    )


def _pins() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in SERVING_PACKAGES]

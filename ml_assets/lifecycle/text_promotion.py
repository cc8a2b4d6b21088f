"""Text champions in the MLflow model registry, like tabular ones.

Each text challenger's verified bundle is logged to an MLflow run (files under `model/`)
and registered as a version of the pipeline's registered model, its bundle hash as the
manifest hash; the decision (`lifecycle.promotion.decide_and_promote`) moves the
`champion` / `previous_champion` aliases and appends to the hash-chained decision log.
The registry is the source of truth: the serving copy in BentoML's model store is made
from the registry's files, verified, and named after the registered version."""

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ml_assets.lib.refs import ModelRef
from ml_assets.lib.text.bundle import REGISTERED_FILE, bundle_sha256, verify_text_bundle
from resources.bento_store import BentoStoreResource
from resources.model_registry import CHAMPION, MODEL_DIR, ModelRegistryResource

# Version tags of a text model (besides the registry's identity tags).
EXAMPLE_STORE_VERSION = "text.example_store_version"
ENCODER = "text.encoder"
PROMPT_VERSIONS = "text.prompt_versions"


def serving_tag(model: ModelRef) -> str:
    """The BentoML model of a registered text version: `<pipeline>_text:v<version>-<hash8>`."""
    return f"{model.pipeline}_text:v{model.version}-{model.manifest_sha256[:8]}"


def register_text_model(
    registry: ModelRegistryResource,
    bundle: Path,
    *,
    family: str,
    metric: str,
    validation_score: float | None,
    run_tags: Mapping[str, str],
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    version_tags: Mapping[str, str],
) -> ModelRef:
    """Log the bundle folder to a new MLflow run of the pipeline (params, test metrics,
    tags) and register it as the next version of the pipeline's model."""
    pipeline = run_tags["pipeline"]
    with registry.run(pipeline, f"text_{family}", run_tags) as run_id:
        registry.log_params(run_id, {k: json.dumps(v, default=str) for k, v in params.items()})
        registry.log_metrics(run_id, metrics)
        registry.log_files(run_id, bundle, MODEL_DIR)
    model = ModelRef(
        pipeline=pipeline,
        family=family,
        mlflow_run_id=run_id,
        manifest_sha256=bundle_sha256(bundle),
        validation_score=validation_score,
        metric=metric,
        params=dict(params),
        threshold=None,
        fitted_on="train+validation",
    )
    return registry.register(model, {**run_tags, **version_tags})


def serving_copy(
    registry: ModelRegistryResource, bento_store: BentoStoreResource, model: ModelRef
) -> str:
    """The BentoML model tag holding `model`'s bundle, imported from the registry's files
    (every hash checked against the registered bundle hash) unless it is there already."""
    tag = serving_tag(model)
    if bento_store.has_model(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="text-bundle-") as scratch:
        local = registry.fetch_files(model.mlflow_run_id, MODEL_DIR, Path(scratch))
        if local is None:
            raise FileNotFoundError(f"{model.label}: run {model.mlflow_run_id} has no bundle")
        verify_text_bundle(local, model.manifest_sha256)
        registered = {
            "version": str(model.version),
            "registered_model": model.pipeline,
            "mlflow_run_id": model.mlflow_run_id,
            "bundle_sha256": model.manifest_sha256,
        }
        (local / REGISTERED_FILE).write_text(json.dumps(registered, indent=2))
        bento_store.import_bundle(tag, local, {"pipeline": model.pipeline})
    return tag


def text_champion(
    registry: ModelRegistryResource, bento_store: BentoStoreResource, pipeline: str
) -> tuple[ModelRef, str] | None:
    """The registry's `champion` of a text pipeline and its serving copy's tag; None
    before the first promotion."""
    champion = registry.by_alias(pipeline, CHAMPION)
    if champion is None:
        return None
    return champion, serving_copy(registry, bento_store, champion)

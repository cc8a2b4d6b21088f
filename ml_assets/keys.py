"""One place for names: asset keys, group names, job names and code versions.

Asset modules, sensors, runs and the CLI all name things through here, so no module
borrows a constant from a sibling asset module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from dagster import AssetKey

DATASETS_GROUP = "datasets"
FEATURES_GROUP = "features"
MODELS_GROUP = "models"
EVALUATION_GROUP = "evaluation"
MONITORING_GROUP = "monitoring"
DEPLOYMENT_GROUP = "deployment"
AUDIT_GROUP = "audit"

# The column of a training set that says which window (train / validation / test) a row is in.
WINDOW = "window"


def raw_key(pipeline: str, source: str) -> AssetKey:
    return AssetKey([pipeline, f"raw_{source}"])


def validated_key(pipeline: str, source: str) -> AssetKey:
    return AssetKey([pipeline, f"validated_{source}"])


def quarantine_key(pipeline: str, source: str) -> AssetKey:
    return AssetKey([pipeline, f"quarantined_{source}"])


def features_key(pipeline: str) -> AssetKey:
    return AssetKey([pipeline, "features"])


def batch_features_key(pipeline: str) -> AssetKey:
    """A static table's scoring batches, featurised."""
    return AssetKey([pipeline, "batch_features"])


def batch_source_name(source: str) -> str:
    """The name a static table's source goes by in its scoring batches' asset keys."""
    return f"{source}_batches"


def batches_partitions_name(pipeline: str) -> str:
    """The dynamic partitions of a static table's scoring batches (one per landed file)."""
    return f"{pipeline}__batches"


def model_key(pipeline: str, name: str) -> AssetKey:
    """A model-half asset: `model_key("p", "challenger_model")` is p/challenger_model."""
    return AssetKey([pipeline, name])


def ingest_job_name(pipeline: str) -> str:
    return f"{pipeline}__ingest"


def predict_job_name(pipeline: str) -> str:
    return f"{pipeline}__predict"


def train_job_name(pipeline: str) -> str:
    return f"{pipeline}__train"


def daily_job_name(pipeline: str) -> str:
    return f"{pipeline}__daily"


def score_batch_job_name(pipeline: str) -> str:
    return f"{pipeline}__score_batch"


def served_traffic_job_name(pipeline: str) -> str:
    return f"{pipeline}__served_traffic"


def rollback_job_name(pipeline: str) -> str:
    return f"{pipeline}__rollback"


def conclude_experiment_job_name(pipeline: str) -> str:
    return f"{pipeline}__conclude_experiment"


def deploy_job_name(pipeline: str) -> str:
    return f"{pipeline}__deploy"


def promote_job_name(pipeline: str) -> str:
    return f"{pipeline}__promote"


def llm_resource_key(pipeline: str) -> str:
    """The resource holding a text pipeline's LLM API key (one per pipeline: each names
    its own variable)."""
    return f"{pipeline}__llm"


def code_version(
    function: Callable[..., Any], *config_parts: object, uses: Iterable[str] = ()
) -> str:
    """Code version of a generated asset, derived rather than bumped by hand.

    It hashes the source of the asset's own function, the source of the `ml_assets.lib`
    modules it names in `uses` (where its maths lives), and its slice of the pipeline
    config. Editing the asset's code, one of those modules, or the config slice gives a
    new version; editing an unrelated module does not.
    """
    sources = [_function_source(function), *(_module_source(name) for name in sorted(uses))]
    payload = json.dumps([sources, config_parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@cache
def _function_source(function: Callable[..., Any]) -> str:
    return inspect.getsource(inspect.unwrap(function))


@cache
def _module_source(name: str) -> str:
    """The text of a module, found without importing it (its imports may be heavy)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"code_version: no module {name!r}")
    return Path(spec.origin).read_text()

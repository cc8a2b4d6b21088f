"""Package a registered champion for serving: bundle -> BentoML model -> bento."""

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from ml_assets.keys import WINDOW
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.problems import ProblemKind, problem_for
from ml_assets.lib.refs import BentoRef, ModelRef
from ml_assets.lib.scoring import REFERENCE_DIR, serving_columns, write_bundle
from ml_assets.lifecycle.passport import passport_id
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource
from resources.model_registry import ModelRegistryResource, prefixed


def bento_tag(pipeline: str, version: str, manifest_sha256: str) -> str:
    """`flight_delays:v3-1a2b3c4d`: the registered version and the model's content hash, so
    a registry rebuilt from scratch (version numbers reused) never reuses a stale bento."""
    return f"{pipeline}:v{version}-{manifest_sha256[:8]}"


def package_champion(
    registry: ModelRegistryResource,
    store: BentoStoreResource,
    lake: LakeResource,
    config: PipelineConfig,
    champion: ModelRef,
) -> BentoRef:
    """The champion's bento: reused when its tag exists, else bundle -> model -> bento."""
    tag = bento_tag(config.name, str(champion.version), champion.manifest_sha256)
    bento = store.find_bento(tag)
    built = bento is None
    if bento is None:
        labels = {"pipeline": config.name, "model_version": str(champion.version)}
        package_model(registry, store, lake, config, champion)
        bento = store.build(
            model_tag=tag,
            bento_version=tag.split(":", 1)[1],
            labels=labels,
            description=f"Champion v{champion.version} of pipeline `{config.name}`.",
        )
    dockerfile = Path(bento.dockerfile)
    return BentoRef(
        tag=str(bento.tag),
        model_tag=tag,
        model=champion,
        built=built,
        dockerfile=str(dockerfile),
        dockerfile_sha256=hashlib.sha256(dockerfile.read_bytes()).hexdigest(),
    )


def package_model(
    registry: ModelRegistryResource,
    store: BentoStoreResource,
    lake: LakeResource,
    config: PipelineConfig,
    model: ModelRef,
) -> str:
    """A registered version as a BentoML model (its serving bundle), unless the store has
    it; the model tag, which is also the tag of the bento that serves it as champion."""
    tag = bento_tag(config.name, str(model.version), model.manifest_sha256)
    if not store.has_model(tag):
        with tempfile.TemporaryDirectory() as folder:
            bundle = Path(folder) / "bundle"
            export_bundle(registry, lake, config, model, bundle)
            labels = {"pipeline": config.name, "model_version": str(model.version)}
            store.import_bundle(tag, bundle, labels)
    return tag


def export_bundle(
    registry: ModelRegistryResource,
    lake: LakeResource,
    config: PipelineConfig,
    champion: ModelRef,
    folder: Path,
) -> dict[str, Any]:
    """Write the serving bundle of a registered model into `folder` (hashes verified)."""
    version = str(champion.version)
    tags = registry.version_tags(config.name, version)
    run = registry.run_record(champion.mlflow_run_id)
    with tempfile.TemporaryDirectory() as scratch:
        local = registry.fetch_model_files(champion, Path(scratch))
        training_set = read_training_set(lake, config)
        references = {
            join.source: lake.read([config.name, f"validated_{join.source}"])
            for join in config.joins
        }
        metadata = {
            "pipeline": config.name,
            "version": version,
            "family": champion.family,
            "manifest_sha256": champion.manifest_sha256,
            "mlflow_run_id": champion.mlflow_run_id,
            "problem_type": config.target.problem_type,
            "classes": _classes(config),
            "threshold": champion.threshold,
            "threshold_reason": champion.threshold_reason,
            "interval_halfwidth": champion.interval_halfwidth,
            "interval_level": champion.interval_level,
            "windows": prefixed(run.tags, "window."),
            "test_metrics": prefixed(run.metrics, "test_"),
            "decision": prefixed(tags, "decision."),
            "schema": {
                n: s.model_dump(mode="json", exclude_none=True)
                for n, s in serving_columns(config).items()
            },
            "example_record": example_record(lake, config, training_set),
            "passport_id": passport_id(config.name, version, champion.manifest_sha256),
        }
        write_bundle(folder, local, config, references, metadata, background(training_set))
    registry.fetch_files(champion.mlflow_run_id, REFERENCE_DIR, folder)
    return metadata


def example_record(
    lake: LakeResource, config: PipelineConfig, training_set: pd.DataFrame | None
) -> dict[str, Any] | None:
    """A real event for the OpenAPI examples and the service's /explain cost probe: the
    first validated row of the earliest day the training set used (of the table, for a
    static one). Not the partitions' start date: a lake may hold only later days."""
    day = _first_trained_day(config, training_set)
    try:
        rows = lake.read([config.name, f"validated_{config.event_source_name}"], day)
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


def _first_trained_day(config: PipelineConfig, training_set: pd.DataFrame | None) -> str | None:
    """The earliest event day of the training set; None for a static table."""
    if config.partitioning is None:
        return None
    if training_set is None or training_set.empty or EVENT_DATE not in training_set:
        return config.partitioning.start_date.isoformat()
    return str(pd.Timestamp(training_set[EVENT_DATE].min()).date())


def read_training_set(lake: LakeResource, config: PipelineConfig) -> pd.DataFrame | None:
    """The pipeline's training set, None before one is materialised."""
    try:
        return lake.read([config.name, "training_set"])
    except FileNotFoundError:
        return None


def background(training_set: pd.DataFrame | None) -> pd.DataFrame | None:
    """200 feature rows of the model's training window, for model-agnostic explanations."""
    if training_set is None:
        return None
    train = training_set[training_set[WINDOW] == "train"]
    return train.sample(min(200, len(train)), random_state=0).reset_index(drop=True)


def _classes(config: PipelineConfig) -> list[str] | None:
    """A multiclass model's classes, in the order of its probabilities."""
    problem = problem_for(config)
    return list(problem.classes) if problem.kind == ProblemKind.MULTICLASS else None

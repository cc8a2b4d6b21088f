"""The audit passport of a champion version, read from the Dagster instance and MLflow.

Lineage comes from what actually happened: the materialisations of the training run, the
feature partitions the training set recorded (with their content hashes), and for each of
those the validated and raw partitions materialised before it. Anything the instance no
longer holds is listed under `missing`, never invented.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

from ml_assets.lib.config import PipelineConfig, config_hash
from ml_assets.lib.refs import ModelRef
from ml_assets.lifecycle.lineage import WHOLE_TABLE
from resources.model_registry import ModelRegistryResource, prefixed


@dataclass(frozen=True)
class PassportSources:
    """The assets of a pipeline's training path that a passport reads: the one that
    records the feature partitions trained on (`feature_data_versions`), the evaluation
    (and which of its metadata to keep) and the bento."""

    training: str = "training_set"
    evaluation: str = "evaluation"
    evaluation_keys: tuple[str, ...] = (
        *("roc_auc", "pr_auc", "log_loss", "brier", "f1", "metrics", "slices"),
    )
    bento: str = "champion_bento"


TABULAR = PassportSources()


def passport_id(pipeline: str, version: str, manifest_sha256: str) -> str:
    return f"{pipeline}-v{version}-{manifest_sha256[:8]}"


def build_passport(
    instance: DagsterInstance,
    registry: ModelRegistryResource,
    config: PipelineConfig,
    model: ModelRef,
    sources: PassportSources = TABULAR,
) -> dict[str, Any]:
    version = str(model.version)
    tags = registry.version_tags(config.name, version)
    mlflow_run = registry.run_record(model.mlflow_run_id)
    run_id = tags.get("dagster.run_id", "")
    missing: list[str] = []
    produced = _run_materializations(instance, run_id)
    if not produced:
        missing.append(f"Dagster run {run_id or '?'} (the training) is not in the instance")
    training = produced.get(sources.training) or _materialized_before(
        instance, AssetKey([config.name, sources.training]), run_id
    )
    used = training.get("metadata", {}).get("feature_data_versions") or {}
    lineage = _feature_lineage(instance, config, used, training.get("timestamp"), missing)
    return {
        "passport_id": passport_id(config.name, version, tags.get("manifest_sha256", "")),
        "pipeline": config.name,
        "model": {
            "registered_version": str(version),
            "family": tags.get("family"),
            "manifest_sha256": tags.get("manifest_sha256"),
            "mlflow_run_id": model.mlflow_run_id,
            "params": mlflow_run.params,
            "validation_metric": tags.get("validation_metric", "roc_auc"),
            "validation_score": tags.get(f"validation_{tags.get('validation_metric', 'roc_auc')}"),
        },
        "code": {
            "git_commit": tags.get("git_commit"),
            "code_versions": {name: m.get("code_version") for name, m in produced.items()},
        },
        "config": {
            "hash": tags.get("config_hash"),
            "current_hash": config_hash(config),
            "content": json.loads(config.model_dump_json()),
        },
        "training": {
            "asset": sources.training,
            "dagster_run_id": run_id,
            "windows": prefixed(mlflow_run.tags, "window."),
            "rows_per_window": training.get("metadata", {}).get("rows_per_window"),
            "feature_partitions": len(used),
        },
        "checks": _checks(
            instance,
            {r["run_id"] for r in lineage["partitions"].values() if r.get("validated")},
            missing,
        ),
        "evaluation": _pick(produced.get(sources.evaluation), sources.evaluation_keys),
        "explanation": _pick(produced.get("explanation"), ("top_features",)),
        "decision": prefixed(tags, "decision."),
        "bento": _pick(produced.get(sources.bento), ("bento_tag", "dockerfile_sha256")),
        "lineage": lineage,
        "missing": missing,
    }


def _run_materializations(instance: DagsterInstance, run_id: str) -> dict[str, dict[str, Any]]:
    if not run_id or instance.get_run_by_id(run_id) is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        if materialization is None:
            continue
        name = materialization.asset_key.path[-1]
        out[name] = {
            "timestamp": record.timestamp,
            "code_version": (materialization.tags or {}).get("dagster/code_version"),
            "metadata": {k: v.value for k, v in materialization.metadata.items()},
        }
    return out


def _materialized_before(instance: DagsterInstance, key: AssetKey, run_id: str) -> dict[str, Any]:
    """The asset's newest materialisation from before the run started (the one a run
    that did not materialise it read), as `_run_materializations` gives it; {} if none."""
    run = instance.get_run_record_by_id(run_id) if run_id else None
    if run is None:
        return {}
    found = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, before_timestamp=run.start_time), limit=1
    ).records
    materialization = found[0].asset_materialization if found else None
    if materialization is None:
        return {}
    return {
        "timestamp": found[0].timestamp,
        "run_id": found[0].run_id,
        "code_version": (materialization.tags or {}).get("dagster/code_version"),
        "metadata": {k: v.value for k, v in materialization.metadata.items()},
    }


def _history(instance: DagsterInstance, key: AssetKey) -> dict[str | None, list[dict[str, Any]]]:
    """Every stored materialisation of `key`, per partition, newest first."""
    by_partition: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    cursor = None
    while True:
        page = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key), limit=5000, cursor=cursor
        )
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is None:
                continue
            content = materialization.metadata.get("content_hash")
            by_partition[materialization.partition].append(
                {
                    "run_id": record.run_id,
                    "time": record.timestamp,
                    "data_version": str(content.value) if content else None,
                    "code_version": (materialization.tags or {}).get("dagster/code_version"),
                }
            )
        if not page.has_more:
            return by_partition
        cursor = page.cursor


def _before(records: list[dict[str, Any]], moment: float | None) -> dict[str, Any] | None:
    return next((r for r in records if moment is None or r["time"] <= moment), None)


def _feature_lineage(
    instance: DagsterInstance,
    config: PipelineConfig,
    used: dict[str, str],
    trained_at: float | None,
    missing: list[str],
) -> dict[str, Any]:
    name, source = config.name, config.event_source_name
    features = _history(instance, AssetKey([name, "features"]))
    validated = _history(instance, AssetKey([name, f"validated_{source}"]))
    raw = _history(instance, AssetKey([name, f"raw_{source}"]))
    partitions: dict[str, dict[str, Any]] = {}
    latest_feature_time = None
    for day, recorded in sorted(used.items()):
        stored_as = None if day == WHOLE_TABLE else day  # a static table has no partitions
        feature = _before(features.get(stored_as, []), trained_at)
        if feature is None:
            missing.append(f"{name}/features[{day}]: no materialisation in the instance")
            continue
        if feature["data_version"] != recorded:
            missing.append(
                f"{name}/features[{day}]: the stored materialisation's hash "
                f"{feature['data_version']} is not the one trained on ({recorded})"
            )
        latest_feature_time = max(latest_feature_time or 0, feature["time"])
        entry: dict[str, Any] = {"features": feature, "run_id": None}
        for label, history in ((f"validated_{source}", validated), (f"raw_{source}", raw)):
            upstream = _before(history.get(stored_as, []), feature["time"])
            if upstream is None:
                missing.append(f"{name}/{label}[{day}]: no materialisation in the instance")
            entry["validated" if label.startswith("validated") else "raw"] = upstream
        entry["run_id"] = (entry.get("validated") or {}).get("run_id")
        partitions[day] = entry
    references = {}
    for join in config.joins:
        key = AssetKey([name, f"validated_{join.source}"])
        found = _before(_history(instance, key).get(None, []), latest_feature_time)
        if found is None:
            missing.append(f"{name}/validated_{join.source}: no materialisation in the instance")
        references[join.source] = found
    return {
        "partitions": partitions,
        "references": references,
        "code_versions": _upstream_code_versions(partitions),
    }


def _upstream_code_versions(partitions: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Distinct code versions of features / validated / raw across the partitions used."""
    versions: dict[str, set[str]] = defaultdict(set)
    for entry in partitions.values():
        for stage in ("features", "validated", "raw"):
            record = entry.get(stage)
            if record and record.get("code_version"):
                versions[stage].add(record["code_version"])
    return {stage: sorted(found) for stage, found in versions.items()}


def _checks(
    instance: DagsterInstance, run_ids: set[str], missing: list[str]
) -> list[dict[str, Any]]:
    results = []
    for run_id in sorted(run_ids):
        if instance.get_run_by_id(run_id) is None:
            missing.append(f"ingest run {run_id}: not in the instance (check results unknown)")
            continue
        for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data  # type: ignore[union-attr]
            results.append(
                {
                    "run_id": run_id,
                    "asset": evaluation.asset_key.to_user_string(),  # type: ignore[union-attr]
                    "check": evaluation.check_name,  # type: ignore[union-attr]
                    "passed": evaluation.passed,  # type: ignore[union-attr]
                    "description": evaluation.description,  # type: ignore[union-attr]
                }
            )
    return results


def _pick(produced: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    metadata = (produced or {}).get("metadata", {})
    return {k: metadata[k] for k in keys if k in metadata}

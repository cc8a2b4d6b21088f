"""A text pipeline's audit passport: what its text champion came from."""

import hashlib
import json
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import AUDIT_GROUP, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig, config_hash
from ml_assets.lib.refs import PassportRef, TextBentoRef, TextChampionRef
from ml_assets.lifecycle.lineage import git_commit
from resources.audit_store import AuditStoreResource

# The text assets whose latest materialisation the passport cites, in lineage order.
_PATH = (
    "prompt_templates",
    "example_store",
    "embeddings",
    "text_candidates",
    "text_champion",
    "text_bento",
)
# What of each materialisation's metadata the passport keeps.
_KEPT = {
    "prompt_templates": ("prompt", "prompt_version", "format", "file"),
    "example_store": (
        "example_store_version",
        "examples",
        "quarantined",
        "examples_per_class",
        "examples_per_window",
    ),
    "embeddings": ("encoder", "dim", "example_store_version"),
    "text_candidates": ("best_family", "test_metrics", "few_shot_curve"),
    "text_champion": (
        "action",
        "reason",
        "champion_model_tag",
        "champion_version",
        "decision_log_index",
        "decision_log_entry_hash",
    ),
    "text_bento": ("bento_tag", "model_tag", "built"),
}


def build_text_audit_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    @asset(
        key=model_key(config.name, "text_passport"),
        ins={
            "champion": AssetIn(model_key(config.name, "text_champion")),
            "bento": AssetIn(model_key(config.name, "text_bento")),
        },
        group_name=AUDIT_GROUP,
        kinds={"json"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(build_text_audit_assets),
    )
    def text_passport(
        context: AssetExecutionContext,
        champion: TextChampionRef,
        bento: TextBentoRef,
        audit_store: AuditStoreResource,
    ) -> Output[PassportRef]:
        """The text champion's passport: the feature partitions behind its example store
        and their data versions, the example store version and quarantine counts, the
        encoder, the prompt template and its version (when an LLM candidate took part),
        the candidates' test metrics and few-shot curve, the decision and its reason, the
        bento, the code version of every text asset on the path, the git commit and the
        config's hash. Stored as JSON (one per champion version), shown as Markdown."""
        if champion.model_tag is None:
            raise Failure(f"{config.name} has no text champion to write a passport for")
        version = champion.decision.champion_version_after or "0"
        steps = {name: _latest(context.instance, model_key(config.name, name)) for name in _PATH}
        store = steps["example_store"] or {}
        record: dict[str, Any] = {
            "pipeline": config.name,
            "model_version": version,
            "model_tag": champion.model_tag,
            "family": champion.family,
            "encoder": champion.encoder,
            "example_store_version": champion.example_store_version,
            "prompt_version": (steps["prompt_templates"] or {}).get("prompt_version"),
            "decision": {
                "action": champion.decision.action,
                "reason": champion.decision.reason,
                "decided_at": champion.decision.decided_at,
                **champion.decision.details,
            },
            "bento": bento.tag,
            "training_partitions": store.get("feature_data_versions", {}),
            "features_asset": features_key(config.name).to_user_string(),
            "assets": {name: step for name, step in steps.items() if step is not None},
            "git_commit": git_commit(),
            "config_hash": config_hash(config),
        }
        record["missing"] = [name for name in ("example_store", "embeddings") if not steps[name]]
        payload = json.dumps(record, sort_keys=True, default=str).encode()
        record["passport_id"] = hashlib.sha256(payload).hexdigest()[:16]
        path = audit_store.write_passport(config.name, version, record)
        return Output(
            PassportRef(record["passport_id"], version, str(path), len(record["missing"])),
            metadata={
                "passport_id": record["passport_id"],
                "example_store_version": str(record["example_store_version"]),
                "prompt_version": str(record["prompt_version"] or ""),
                "passport": MetadataValue.md(_markdown(record)),
                "json": MetadataValue.path(str(path)),
            },
        )

    return [text_passport]


def _latest(instance: DagsterInstance, key: AssetKey) -> dict[str, Any] | None:
    """The kept metadata, code version and run of the asset's latest materialisation."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    materialization = event.asset_materialization
    name = key.path[-1]
    kept = {
        k: materialization.metadata[k].value for k in _KEPT[name] if k in materialization.metadata
    }
    if name == "example_store" and "feature_data_versions" in materialization.metadata:
        kept["feature_data_versions"] = materialization.metadata["feature_data_versions"].value
    return {
        **kept,
        "run_id": event.run_id,
        "code_version": materialization.tags.get("dagster/code_version")
        if materialization.tags
        else None,
        "data_version": materialization.tags.get("dagster/data_version")
        if materialization.tags
        else None,
    }


def _markdown(record: dict[str, Any]) -> str:
    rows = [
        ("model", f"{record['model_tag']} ({record['family']})"),
        ("decision", f"{record['decision']['action']}: {record['decision']['reason']}"),
        ("example store", str(record["example_store_version"])),
        ("encoder", str(record["encoder"])),
        ("prompt version", str(record["prompt_version"] or "no LLM candidate")),
        ("training partitions", str(len(record["training_partitions"]))),
        ("bento", str(record["bento"])),
        ("git commit", record["git_commit"]),
        ("config hash", record["config_hash"]),
    ]
    lines = ["| item | value |", "| --- | --- |"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
    return "\n".join(lines)

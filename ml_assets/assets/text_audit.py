"""A text pipeline's audit passport: the tabular passport's record of the registry's
champion (`lifecycle.passport`) with what a text champion came from."""

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

from ml_assets.keys import AUDIT_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.passport_render import render_markdown
from ml_assets.lib.refs import PassportRef, TextBentoRef, TextChampionRef
from ml_assets.lifecycle.passport import PassportSources, build_passport
from ml_assets.lifecycle.text_promotion import ENCODER, EXAMPLE_STORE_VERSION, PROMPT_VERSIONS
from resources.audit_store import AuditStoreResource
from resources.model_registry import CHAMPION, ModelRegistryResource

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


# What the shared passport (`lifecycle.passport`) reads on a text pipeline's path.
TEXT_SOURCES = PassportSources(
    training="example_store",
    evaluation="text_candidates",
    evaluation_keys=("best_family", "test_metrics", "per_class", "few_shot_curve"),
    bento="text_bento",
)


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
        code_version=code_version(
            build_text_audit_assets,
            uses=("ml_assets.lifecycle.passport", "ml_assets.lib.passport_render"),
        ),
    )
    def text_passport(
        context: AssetExecutionContext,
        champion: TextChampionRef,
        bento: TextBentoRef,
        audit_store: AuditStoreResource,
        model_registry: ModelRegistryResource,
    ) -> Output[PassportRef]:
        """The registry's text champion's passport, the tabular passport's record (the
        MLflow run and registered version, the feature partitions behind its example store
        with their validated and raw partitions, data versions and checks, the code
        versions, git commit and config, the decision that made it champion and its
        decision-log entry, the bento) with the text path: the example store version and
        quarantine counts, the encoder, the prompt template versions the LLM candidate
        was filled from, the candidates' test metrics and few-shot curve and the latest
        decision. Stored as JSON (one per champion version), shown as Markdown;
        `mlap audit show|lineage <pipeline>` print it."""
        current = model_registry.by_alias(config.name, CHAMPION)
        if current is None:
            raise Failure(f"{config.name} has no text champion to write a passport for")
        version = str(current.version)
        record = build_passport(context.instance, model_registry, config, current, TEXT_SOURCES)
        tags = model_registry.version_tags(config.name, version)
        steps = {name: _latest(context.instance, model_key(config.name, name)) for name in _PATH}
        prompt_versions = json.loads(tags.get(PROMPT_VERSIONS) or "{}")
        shown = record["evaluation"].get("test_metrics") or {}
        record["evaluation"]["metrics"] = _metrics_table(shown)
        record["bento"] = {"bento_tag": bento.tag, "model_tag": bento.model_tag}
        record |= {
            "model_version": version,
            "model_tag": bento.model_tag,
            "family": current.family,
            "encoder": tags.get(ENCODER),
            "example_store_version": tags.get(EXAMPLE_STORE_VERSION),
            "prompt_versions": prompt_versions,
            # The template in force at the latest decision (edited templates show here).
            "prompt_version": (steps["prompt_templates"] or {}).get("prompt_version"),
            "latest_decision": champion.decision.as_dict(),
            "training_partitions": record["lineage"]["partitions"]
            and {
                day: e["features"]["data_version"]
                for day, e in record["lineage"]["partitions"].items()
            },
            "assets": {name: step for name, step in steps.items() if step is not None},
        }
        record["missing"] += [
            f"{config.name}/{name}: no materialisation in the instance"
            for name in ("example_store", "embeddings")
            if not steps[name]
        ]
        payload = json.dumps(record, sort_keys=True, default=str).encode()
        record["passport_id"] = (
            f"{config.name}-v{version}-{hashlib.sha256(payload).hexdigest()[:8]}"
        )
        path = audit_store.write_passport(config.name, version, record)
        return Output(
            PassportRef(record["passport_id"], version, str(path), len(record["missing"])),
            metadata={
                "passport_id": record["passport_id"],
                "missing_items": len(record["missing"]),
                "example_store_version": str(record["example_store_version"]),
                "prompt_version": str(record["prompt_version"] or ""),
                "passport": MetadataValue.md(render_markdown(record)),
                "json": MetadataValue.path(str(path)),
            },
        )

    return [text_passport]


def _metrics_table(shown: dict[str, dict[str, Any]]) -> str:
    """The candidates' headline test metrics as a Markdown table (one row per model)."""
    if not shown:
        return "no evaluation recorded"
    names = list(next(iter(shown.values())))
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for model, values in shown.items():
        cells = ["" if values.get(n) is None else f"{values[n]:.4f}" for n in names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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

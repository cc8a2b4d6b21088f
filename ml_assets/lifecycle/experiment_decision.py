"""Conclude a live experiment on its evidence, through the decision path of training
(ml_assets.lifecycle.promotion: promotion lock, hash-chained decision log, registry tags),
then stop it (the record kept in the lake with the decision's reason)."""

from __future__ import annotations

from typing import Any

from ml_assets.lib.experiment_evidence import experiment_id
from ml_assets.lib.experiment_record import read_current
from ml_assets.lib.refs import Decision
from ml_assets.lifecycle.experiments import stop_experiment
from ml_assets.lifecycle.promotion import promote_version, record_keep
from resources.audit_store import AuditStoreResource
from resources.lake import LakeResource
from resources.model_registry import ModelRegistryResource

CONCLUSIVE = ("challenger_better", "champion_better")


def conclude_experiment(
    registry: ModelRegistryResource,
    audit: AuditStoreResource,
    lake: LakeResource,
    pipeline: str,
    experiment: str,
    result: dict[str, Any],
    reason: str,
    actor: str,
) -> Decision:
    """`challenger_better`: promote the experiment's challenger (refused when the champion
    changed since the experiment started); `champion_better`: record a `keep`. Either way
    the experiment stops. Refused when `experiment` is not the running one (a verdict
    about an experiment that was stopped or replaced) or the verdict is not conclusive."""
    record = read_current(lake.base_path, pipeline)
    if record is None or experiment_id(record) != experiment:
        running = experiment_id(record) if record else "none"
        raise ValueError(
            f"{pipeline}: the verdict is about experiment {experiment}, the running one is"
            f" {running}: nothing concluded"
        )
    verdict = result.get("verdict")
    if verdict not in CONCLUSIVE:
        raise ValueError(f"{pipeline}: verdict {verdict!r} concludes nothing ({reason})")
    said = f"{record.mode} experiment {experiment} {reason}"
    if verdict == "challenger_better":
        decision = promote_version(
            registry,
            audit,
            pipeline,
            record.challenger_version,
            lambda before: (
                f"promoted by {actor}: v{before or 'none'} -> v{record.challenger_version}: {said}"
            ),
            actor=actor,
            manual=False,
            details=result,
            expected_champion=record.champion_version,
        )
    else:
        decision = record_keep(
            registry,
            audit,
            pipeline,
            record.challenger_version,
            f"kept champion v{record.champion_version} (challenger"
            f" v{record.challenger_version} stopped) by {actor}: {said}",
            actor=actor,
            details=result,
        )
    stop_experiment(lake, pipeline, decision.reason)
    return decision

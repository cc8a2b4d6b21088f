"""Champion decisions and rollbacks: scored on the same test window, serialised, recorded."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.config.models import PromotionConfig
from ml_assets.lib.problems import Problem, ProblemKind
from ml_assets.lib.refs import Decision, ModelRef
from resources.audit_store import AuditStoreResource
from resources.model_registry import CHAMPION, PREVIOUS_CHAMPION, ModelRegistryResource


def decide_and_promote(
    registry: ModelRegistryResource,
    audit: AuditStoreResource,
    challenger: ModelRef,
    test_frame: pd.DataFrame,
    y_test: np.ndarray,
    policy: PromotionConfig,
    problem: Problem,
    *,
    score: Callable[[ModelRef], np.ndarray] | None = None,
    seed: int = 0,
) -> Decision:
    """Compare the challenger with the current champion and move aliases if it wins.

    Everything from reading the champion alias to moving it happens under the pipeline's
    promotion lock, so two trainings deciding at once are decided one after the other,
    the second against the first one's result. `score` gives a registered model's
    predictions on the test window (default: the registry's tabular models on
    `test_frame`; a text pipeline passes its bundles' scorer); `seed` seeds the paired
    bootstrap of non-binary problems.
    """
    from ml_assets.lib.promotion_rule import decide_by_metric, decide_promotion

    pipeline = challenger.pipeline
    with registry.promotion_lock(pipeline):
        champion = registry.by_alias(pipeline, CHAMPION)
        if champion is not None and champion.version == challenger.version:
            raise ValueError(f"{pipeline} v{challenger.version} is already the champion")
        scored = score or (lambda model: registry.score(model, test_frame, problem))
        p_challenger = scored(challenger)
        p_champion = scored(champion) if champion else None
        if problem.kind == ProblemKind.BINARY:
            decision = decide_promotion(
                y_test,
                p_challenger,
                p_champion,
                margin=policy.margin,
                alpha=policy.alpha,
                threshold=challenger.threshold or 0.5,
                champion_threshold=champion.threshold if champion else None,
                method=policy.method,
                resamples=policy.bootstrap_resamples,
            )
        else:
            decision = decide_by_metric(
                problem,
                y_test,
                p_challenger,
                p_champion,
                margin=policy.margin,
                alpha=policy.alpha,
                resamples=policy.bootstrap_resamples,
                seed=seed,
            )
        before = str(champion.version) if champion else None
        if decision.promote:
            if champion is not None:
                registry.set_alias(pipeline, PREVIOUS_CHAMPION, str(champion.version))
            registry.set_alias(pipeline, CHAMPION, str(challenger.version))
        record = Decision(
            action="promote" if decision.promote else "keep",
            pipeline=pipeline,
            challenger_version=str(challenger.version),
            champion_version_before=before,
            champion_version_after=str(challenger.version) if decision.promote else before,
            reason=decision.reason,
            details=decision.to_dict(),
            decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _record(registry, audit, challenger, record)
        return record


def rollback(
    registry: ModelRegistryResource, audit: AuditStoreResource, pipeline: str, actor: str
) -> Decision:
    """Move `champion` back to `previous_champion`; the rolled-back version becomes previous."""
    with registry.promotion_lock(pipeline):
        champion = registry.by_alias(pipeline, CHAMPION)
        previous = registry.by_alias(pipeline, PREVIOUS_CHAMPION)
        if champion is None or previous is None:
            raise ValueError(
                f"{pipeline}: nothing to roll back to (champion: "
                f"{champion.version if champion else 'none'}, previous_champion: "
                f"{previous.version if previous else 'none'})"
            )
        registry.set_alias(pipeline, CHAMPION, str(previous.version))
        registry.set_alias(pipeline, PREVIOUS_CHAMPION, str(champion.version))
        record = Decision(
            action="rollback",
            pipeline=pipeline,
            challenger_version=None,
            champion_version_before=str(champion.version),
            champion_version_after=str(previous.version),
            reason=f"rolled back by {actor}: champion v{champion.version} -> v{previous.version}",
            details={},
            decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _record(registry, audit, previous, record)
        return record


def manual_promote(
    registry: ModelRegistryResource,
    audit: AuditStoreResource,
    pipeline: str,
    version: str,
    reason: str,
    actor: str,
) -> Decision:
    """A person's override: move `champion` to `version` (the champion becomes previous).

    Recorded as a `promote` with `manual: true`, not as a new action: the decision log
    and the alert sensor know promote / keep / rollback, so the override is chained and
    alerted like any promotion. Refused before any alias moves: an empty reason, an
    unknown version, the current champion, files that fail their manifest hashes.
    """
    if not reason.strip():
        raise ValueError(f"{pipeline}: a manual promotion needs a reason")
    return promote_version(
        registry,
        audit,
        pipeline,
        version,
        lambda before: f"manual promotion by {actor}: v{before or 'none'} -> v{version}: {reason}",
        actor=actor,
        manual=True,
    )


def promote_version(
    registry: ModelRegistryResource,
    audit: AuditStoreResource,
    pipeline: str,
    version: str,
    reason: Callable[[str | None], str],
    *,
    actor: str,
    manual: bool,
    details: dict[str, Any] | None = None,
    expected_champion: str | None = None,
) -> Decision:
    """Move `champion` to a registered `version` outside training (a person's override, or
    a concluded live experiment), recorded like every decision. Refused before any alias
    moves: an unknown version, the current champion, a champion other than
    `expected_champion` (when given), files that fail their manifest hashes. `reason`
    gets the champion version before."""
    import tempfile
    from pathlib import Path

    with registry.promotion_lock(pipeline):
        known = [str(v.version) for v in registry.versions(pipeline)]
        if str(version) not in known:
            raise ValueError(
                f"{pipeline} has no version {version} (versions: {', '.join(known) or 'none'})"
            )
        champion = registry.by_alias(pipeline, CHAMPION)
        if champion is not None and str(champion.version) == str(version):
            raise ValueError(f"{pipeline} v{version} is already the champion")
        before = str(champion.version) if champion else None
        if expected_champion is not None and before != expected_champion:
            raise ValueError(
                f"{pipeline}: the champion is v{before or 'none'}, not v{expected_champion}"
                " as when the experiment started: not promoting on its evidence"
            )
        model = registry.version(pipeline, str(version))
        with tempfile.TemporaryDirectory() as folder:
            registry.fetch_model_files(model, Path(folder))  # raises on a changed file
        if champion is not None:
            registry.set_alias(pipeline, PREVIOUS_CHAMPION, str(champion.version))
        registry.set_alias(pipeline, CHAMPION, str(version))
        record = Decision(
            action="promote",
            pipeline=pipeline,
            challenger_version=str(version),
            champion_version_before=before,
            champion_version_after=str(version),
            reason=reason(before),
            details=dict(details or {}),
            manual=manual,
            requested_by=actor,
            decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _record(registry, audit, model, record)
        return record


def record_keep(
    registry: ModelRegistryResource,
    audit: AuditStoreResource,
    pipeline: str,
    version: str,
    reason: str,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
) -> Decision:
    """A `keep` decision about `version` made outside training (a live experiment that
    found the challenger not better): no alias moves, the decision is recorded."""
    with registry.promotion_lock(pipeline):
        champion = registry.by_alias(pipeline, CHAMPION)
        before = str(champion.version) if champion else None
        record = Decision(
            action="keep",
            pipeline=pipeline,
            challenger_version=str(version),
            champion_version_before=before,
            champion_version_after=before,
            reason=reason,
            details=dict(details or {}),
            requested_by=actor,
            decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _record(registry, audit, registry.version(pipeline, str(version)), record)
        return record


def _record(
    registry: ModelRegistryResource, audit: AuditStoreResource, model: ModelRef, record: Decision
) -> None:
    """Append to the hash-chained decision log (anchoring its head in the registry), then
    tag the model version and the MLflow run that trained it. Runs under the promotion
    lock, so log order is decision order."""
    from ml_assets.lib.decision_log import append

    pipeline = model.pipeline
    entry = append(audit.decision_log(pipeline), pipeline, record.action, record.as_dict())  # type: ignore[arg-type]
    registry.anchor_head(pipeline, entry.entry_hash)
    tags = {f"decision.{k}": v for k, v in record.as_dict().items() if v is not None}
    tags["decision.log_index"] = entry.index
    tags["decision.log_entry_hash"] = entry.entry_hash
    registry.tag_version(pipeline, str(model.version), tags)
    if model.mlflow_run_id:
        registry.tag_run(model.mlflow_run_id, tags)

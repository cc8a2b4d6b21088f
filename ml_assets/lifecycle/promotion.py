"""Champion decisions and rollbacks: scored on the same test window, serialised, recorded."""

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.config.models import PromotionConfig
from resources.model_registry import (
    CHAMPION,
    PREVIOUS_CHAMPION,
    ModelRegistryResource,
)


@dataclass(frozen=True)
class DecisionRecord:
    action: str  # "promote", "keep" or "rollback"
    pipeline: str
    challenger_version: str | None
    champion_version_before: str | None
    champion_version_after: str | None
    reason: str
    details: dict[str, Any]
    decided_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "pipeline": self.pipeline,
            "challenger_version": self.challenger_version,
            "champion_version_before": self.champion_version_before,
            "champion_version_after": self.champion_version_after,
            "reason": self.reason,
            "decided_at": self.decided_at,
            **{f"test.{k}": v for k, v in self.details.items()},
        }


def score_version(
    registry: ModelRegistryResource, pipeline: str, version: Any, frame: pd.DataFrame
) -> np.ndarray:
    """Positive-class probabilities of a registered version, after verifying its hashes."""
    from ml_assets.lib.artifacts import load_model, predict_proba

    expected = version.tags.get("manifest_sha256")
    if not expected:
        raise ValueError(f"{pipeline} v{version.version} has no manifest_sha256 tag: refusing it")
    with tempfile.TemporaryDirectory() as folder:
        local = registry.download(version, Path(folder))
        loaded = load_model(local, expected_manifest_sha256=expected)
        return predict_proba(loaded, frame)


def decide_and_promote(
    registry: ModelRegistryResource,
    pipeline: str,
    challenger_version: str,
    test_frame: pd.DataFrame,
    y_test: np.ndarray,
    policy: PromotionConfig,
) -> DecisionRecord:
    """Compare the challenger with the current champion and move aliases if it wins.

    Everything from reading the champion alias to moving it happens under the pipeline's
    promotion lock, so two trainings deciding at once are decided one after the other,
    the second against the first one's result.
    """
    from ml_assets.lib.significance import decide_promotion

    with registry.promotion_lock(pipeline):
        client = registry.client()
        challenger = client.get_model_version(pipeline, challenger_version)
        champion = registry.version_by_alias(pipeline, CHAMPION)
        if champion is not None and champion.version == challenger.version:
            raise ValueError(f"{pipeline} v{challenger_version} is already the champion")
        p_challenger = score_version(registry, pipeline, challenger, test_frame)
        p_champion = score_version(registry, pipeline, champion, test_frame) if champion else None
        decision = decide_promotion(
            y_test,
            p_challenger,
            p_champion,
            margin=policy.margin,
            alpha=policy.alpha,
            threshold=policy.threshold,
            method=policy.method,
            resamples=policy.bootstrap_resamples,
        )
        before = str(champion.version) if champion else None
        if decision.promote:
            if champion is not None:
                registry.set_alias(pipeline, PREVIOUS_CHAMPION, champion.version)
            registry.set_alias(pipeline, CHAMPION, challenger.version)
        record = DecisionRecord(
            action="promote" if decision.promote else "keep",
            pipeline=pipeline,
            challenger_version=str(challenger.version),
            champion_version_before=before,
            champion_version_after=str(challenger.version) if decision.promote else before,
            reason=decision.reason,
            details=decision.to_dict(),
            decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _record(registry, pipeline, challenger.version, record)
        return record


def rollback(registry: ModelRegistryResource, pipeline: str, actor: str) -> DecisionRecord:
    """Move `champion` back to `previous_champion`; the rolled-back version becomes previous."""
    with registry.promotion_lock(pipeline):
        champion = registry.version_by_alias(pipeline, CHAMPION)
        previous = registry.version_by_alias(pipeline, PREVIOUS_CHAMPION)
        if champion is None or previous is None:
            raise ValueError(
                f"{pipeline}: nothing to roll back to (champion: "
                f"{champion.version if champion else 'none'}, previous_champion: "
                f"{previous.version if previous else 'none'})"
            )
        registry.set_alias(pipeline, CHAMPION, previous.version)
        registry.set_alias(pipeline, PREVIOUS_CHAMPION, champion.version)
        record = DecisionRecord(
            action="rollback",
            pipeline=pipeline,
            challenger_version=None,
            champion_version_before=str(champion.version),
            champion_version_after=str(previous.version),
            reason=f"rolled back by {actor}: champion v{champion.version} -> v{previous.version}",
            details={},
            decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _record(registry, pipeline, previous.version, record)
        return record


def _record(
    registry: ModelRegistryResource, pipeline: str, version: str, record: DecisionRecord
) -> None:
    """Append to the hash-chained decision log (anchoring its head in the registry), then
    tag the model version and the MLflow run that trained it. Runs under the promotion
    lock, so log order is decision order."""
    from ml_assets.lib.decision_log import append

    entry = append(registry.decision_log(pipeline), pipeline, record.action, record.as_dict())  # type: ignore[arg-type]
    registry.anchor_head(pipeline, entry.entry_hash)
    tags = {f"decision.{k}": v for k, v in record.as_dict().items() if v is not None}
    tags["decision.log_index"] = entry.index
    tags["decision.log_entry_hash"] = entry.entry_hash
    registry.tag_version(pipeline, version, tags)
    run_id = registry.client().get_model_version(pipeline, version).run_id
    if run_id:
        client = registry.client()
        for key, value in tags.items():
            client.set_tag(run_id, key, str(value)[:5000])

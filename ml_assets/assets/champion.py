"""The champion decision, its model card, and the rollback job."""

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetObservation,
    AssetsDefinition,
    Config,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    asset,
    job,
    op,
)
from pydantic import Field

from ml_assets.assets.evaluation import holdout_rows
from ml_assets.keys import (
    MODELS_GROUP,
    code_version,
    model_key,
    promote_job_name,
    rollback_job_name,
)
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.model_card import render_model_card
from ml_assets.lib.problems import problem_for
from ml_assets.lib.refs import ChampionRef, Decision, ModelRef
from ml_assets.lifecycle.promotion import decide_and_promote, manual_promote, rollback
from resources.audit_store import AuditStoreResource
from resources.lake import LakeResource
from resources.model_registry import CHAMPION, ModelRegistryResource

# Where the promotion decision's code lives, for the champion's code version.
PROMOTION_CODE = (
    "ml_assets.lifecycle.promotion",
    "ml_assets.lib.promotion_rule",
    "ml_assets.lib.significance",
    "ml_assets.lib.problems",
)


def decision_metadata(record: Decision, **extra: Any) -> dict[str, Any]:
    """What the UI, and the alert sensor reading it, show of a champion decision: the
    action, reason, versions before and after, and the whole decision as JSON."""
    return {
        "action": record.action,
        "reason": record.reason,
        "champion_version": record.champion_version_after or "none",
        "previous_champion_version": record.champion_version_before or "none",
        "challenger_version": record.challenger_version or "none",
        "decision": MetadataValue.json(record.as_dict()),
        **extra,
    }


def build_champion_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_champion(config)]


def _champion(config: PipelineConfig) -> AssetsDefinition:
    label = config.target.name

    @asset(
        key=model_key(config.name, "champion_model"),
        ins={
            "training_set": AssetIn(model_key(config.name, "training_set")),
            "challenger_model": AssetIn(model_key(config.name, "challenger_model")),
            "evaluation": AssetIn(model_key(config.name, "evaluation")),
        },
        group_name=MODELS_GROUP,
        kinds={"mlflow"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            _champion,
            config.promotion.model_dump(mode="json"),
            uses=PROMOTION_CODE,
        ),
    )
    def champion_model(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        challenger_model: ModelRef,
        evaluation: pd.DataFrame,
        model_registry: ModelRegistryResource,
        audit_store: AuditStoreResource,
    ) -> Output[ChampionRef]:
        """The champion decision: challenger and current champion scored on the same test
        window; the challenger is promoted only if its ROC AUC is higher by the configured
        margin and the paired test says the gain is not noise. Either way the decision,
        both scores, the test and the reason are recorded here and as MLflow tags; a
        promotion moves `champion` (and `previous_champion`) and writes a model card."""
        test = holdout_rows(training_set)
        problem = problem_for(config)
        y = problem.truth(test[label])
        record = decide_and_promote(
            model_registry, audit_store, challenger_model, test, y, config.promotion, problem
        )
        context.log.info(f"{record.action}: {record.reason}")
        metadata = decision_metadata(record)
        if record.action == "promote":
            card = render_model_card(config, training_set, challenger_model, evaluation, record)
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "model_card.md"
                path.write_text(card)
                model_registry.log_files(challenger_model.mlflow_run_id, path)
            metadata["model_card"] = MetadataValue.md(card)
        champion = model_registry.by_alias(config.name, CHAMPION)
        return Output(ChampionRef(decision=record, champion=champion), metadata=metadata)

    return champion_model


def build_rollback_job(
    pipeline_config: PipelineConfig, champion_asset: str = "champion_model"
) -> JobDefinition:
    """`<pipeline>__rollback`; its decision is observed on `champion_asset` (a text
    pipeline's: text_champion)."""
    pipeline = pipeline_config.name
    champion_key = model_key(pipeline, champion_asset)

    @op(name=f"{pipeline}__rollback_champion")
    def rollback_champion(
        context: OpExecutionContext,
        config: RollbackRunConfig,
        model_registry: ModelRegistryResource,
        audit_store: AuditStoreResource,
        lake: LakeResource,
    ) -> None:
        """Moves `champion` back to `previous_champion` and records who did it and why
        (with the trigger that fired, when the rollback sensor started it); the inference
        log of the days judged is copied aside first."""
        from ml_assets.lib.rollback_triggers import keep_log_days

        actor = context.run.tags.get("user") or (context.run.tags.get("dagster/from_ui") and "ui")
        actor = str(actor or "rollback job") + (f" ({config.trigger})" if config.trigger else "")
        kept = None
        if config.keep_log_days:
            label = context.run_id[:8]
            kept = keep_log_days(lake.base_path, pipeline, config.keep_log_days, label)
        record = rollback(model_registry, audit_store, pipeline, actor=actor)
        context.log.info(
            record.reason + (f"; the log of the days judged is kept in {kept}" if kept else "")
        )
        context.log_event(
            AssetObservation(
                asset_key=champion_key,
                metadata=decision_metadata(record, **({"kept_log": kept} if kept else {})),
            )
        )

    @job(
        name=rollback_job_name(pipeline),
        description=f"Moves `{pipeline}`'s champion alias back to its previous champion.",
    )
    def rollback_job() -> None:
        rollback_champion()

    return rollback_job


class RollbackRunConfig(Config):
    trigger: str = Field("", description="What fired, when the rollback sensor rolls back.")
    keep_log_days: list[str] = Field(
        default_factory=list, description="Days of the inference log to keep as evidence."
    )


class PromoteConfig(Config):
    version: str = Field(description="Registered version to make the champion, e.g. '3'.")
    reason: str = Field(description="Why: recorded in the decision log, the tags and the alert.")


def build_promote_job(pipeline: str, champion_asset: str = "champion_model") -> JobDefinition:
    """`<pipeline>__promote`: a manual override of the champion, recorded like a decision
    and observed on `champion_asset`."""
    champion_key = model_key(pipeline, champion_asset)

    @op(name=f"{pipeline}__promote_champion")
    def promote_champion(
        context: OpExecutionContext,
        config: PromoteConfig,
        model_registry: ModelRegistryResource,
        audit_store: AuditStoreResource,
    ) -> None:
        """Moves `champion` to the configured version (the old one becomes
        `previous_champion`) after checking its files, and records who did it and why."""
        actor = context.run.tags.get("user") or (context.run.tags.get("dagster/from_ui") and "ui")
        record = manual_promote(
            model_registry,
            audit_store,
            pipeline,
            config.version,
            config.reason,
            actor=str(actor or "promote job"),
        )
        context.log.info(record.reason)
        context.log_event(
            AssetObservation(
                asset_key=champion_key,
                metadata=decision_metadata(record, manual=True),
            )
        )

    @job(
        name=promote_job_name(pipeline),
        description=(
            f"Makes a chosen version `{pipeline}`'s champion (run config: version, reason); "
            "then materialise champion_bento and passport to serve it."
        ),
    )
    def promote_job() -> None:
        promote_champion()

    return promote_job

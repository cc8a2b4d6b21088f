"""`<pipeline>__conclude_experiment`: the job the experiment sensor starts when `ab_test`
reaches a verdict; it decides like a training decision and stops the experiment."""

import json

from dagster import (
    AssetObservation,
    Config,
    JobDefinition,
    OpExecutionContext,
    job,
    op,
)
from pydantic import Field

from ml_assets.assets.champion import decision_metadata
from ml_assets.keys import conclude_experiment_job_name, model_key
from ml_assets.lifecycle.experiment_decision import conclude_experiment
from resources.audit_store import AuditStoreResource
from resources.lake import LakeResource
from resources.model_registry import ModelRegistryResource


class ConcludeConfig(Config):
    experiment: str = Field(
        description="The experiment judged, e.g. 'v4@2026-12-04T10:00:00+00:00'."
    )
    result: str = Field(description="The test's result as JSON (ab_test's `result` metadata).")
    reason: str = Field(description="ab_test's sentence: both AUCs, the test, p-value, samples.")


def conclude_op_name(pipeline: str) -> str:
    return f"{pipeline}__conclude_experiment_op"


def build_conclude_job(pipeline: str) -> JobDefinition:
    """The op that concludes `pipeline`'s running experiment, in a job of its own."""
    champion_key = model_key(pipeline, "champion_model")

    @op(name=conclude_op_name(pipeline))
    def conclude(
        context: OpExecutionContext,
        config: ConcludeConfig,
        model_registry: ModelRegistryResource,
        audit_store: AuditStoreResource,
        lake: LakeResource,
    ) -> None:
        """Promotes the experiment's challenger when it proved better, or records a `keep`
        when the champion did, through the training's decision path (promotion lock,
        decision log, registry tags; the observation on `champion_model` is what the
        alert sensor announces), then stops the experiment. Refuses a verdict about an
        experiment that no longer runs, and a promotion when the champion changed."""
        actor = context.run.tags.get("user") or "experiment sensor"
        record = conclude_experiment(
            model_registry,
            audit_store,
            lake,
            pipeline,
            config.experiment,
            json.loads(config.result),
            config.reason,
            actor=actor,
        )
        context.log.info(record.reason)
        context.log_event(
            AssetObservation(
                asset_key=champion_key,
                metadata=decision_metadata(record, experiment=config.experiment),
            )
        )

    @job(
        name=conclude_experiment_job_name(pipeline),
        description=(
            f"Concludes `{pipeline}`'s live experiment on ab_test's verdict (run config: "
            "experiment, result, reason); then materialise champion_bento and passport."
        ),
    )
    def conclude_job() -> None:
        conclude()

    return conclude_job

"""A manual promotion: the `<pipeline>__promote` job's run, then the bento it ships.

The job (ml_assets.assets.champion) records the override exactly as the champion asset
records a decision (decision log, MLflow tags, and an observation of
`<pipeline>/champion_model`, which the alert sensor and the UI read). `promote` then
materialises the champion's deployment (`champion_bento`, `passport`: `deploy_champion`,
which `mlap rollback` runs too), so the new champion has its bento and the pointer that
`mlap serve` and batch predictions read. Both tag their decision run as deploying itself,
so the redeploy sensor does not start the same deployment again.
"""

import time
from dataclasses import dataclass, field

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, JobDefinition

from ml_assets.assets.champion import build_promote_job
from ml_assets.keys import model_key, promote_job_name, train_job_name
from ml_assets.run_tags import DEPLOYS_ITSELF_TAG
from ml_assets.runs.results import QUIET, failure_message


def promote_run_config(pipeline: str, version: str, reason: str) -> dict[str, object]:
    op_config = {"config": {"version": version, "reason": reason}}
    return {**QUIET, "ops": {f"{pipeline}__promote_champion": op_config}}


@dataclass
class PromotionSummary:
    pipeline: str
    version: str
    success: bool
    seconds: float
    run_ids: list[str] = field(default_factory=list)
    reason: str | None = None
    previous: str | None = None
    bento_tag: str | None = None
    bento_built: bool | None = None
    passport_id: str | None = None
    error: str | None = None

    def render(self) -> str:
        if self.reason is None:
            return f"refused: {self.error}"
        lines = [
            f"{self.pipeline}: champion v{self.previous} -> v{self.version} "
            f"(previous_champion: v{self.previous})",
            f"decision: promote (manual): {self.reason}",
        ]
        if self.bento_tag:
            verb = "built" if self.bento_built else "kept existing"
            lines.append(f"bento: {verb} {self.bento_tag}")
        if self.passport_id:
            lines.append(f"passport: {self.passport_id}")
        if self.error:
            lines.append(f"error: {self.error}")
        else:
            lines.append(f"serve it: mlap serve {self.pipeline}")
        lines.append(f"in {self.seconds:.0f} s (runs {', '.join(self.run_ids)})")
        return "\n".join(lines)


def promote_job_in(defs: Definitions, pipeline: str) -> JobDefinition:
    """The pipeline's promote job bound to the resources of `defs`: the code location's own
    job when it has one, else one built here (`defs` must hold the pipeline's train job)."""
    name = promote_job_name(pipeline)
    if defs.get_repository_def().has_job(name):
        return defs.resolve_job_def(name)
    merged = Definitions.merge(defs, Definitions(jobs=[build_promote_job(pipeline)]))
    return merged.resolve_job_def(name)


def run_manual_promotion(
    defs: Definitions,
    pipeline: str,
    version: str,
    reason: str,
    instance: DagsterInstance,
    actor: str = "mlap promote",
) -> PromotionSummary:
    """The promote job, then champion_bento and passport in one run of the train job's
    deployment subset; stops at the first run that fails."""
    begun = time.perf_counter()
    summary = PromotionSummary(pipeline, str(version), success=False, seconds=0.0)
    promoted = promote_job_in(defs, pipeline).execute_in_process(
        run_config=promote_run_config(pipeline, str(version), reason),
        instance=instance,
        tags={"user": actor, DEPLOYS_ITSELF_TAG: "true"},
        raise_on_error=False,
    )
    summary.run_ids.append(promoted.run_id)
    for event in promoted.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            metadata = event.event_specific_data.asset_observation.metadata  # type: ignore[union-attr]
            summary.reason = str(metadata["reason"].value)
            summary.previous = str(metadata["previous_champion_version"].value)
    if not promoted.success:
        summary.error = failure_message(promoted)
        summary.seconds = time.perf_counter() - begun
        return summary
    deployed = deploy_champion(defs, pipeline, instance, actor)
    summary.run_ids.append(deployed.run_id)
    for event in deployed.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if materialization.asset_key.path[-1] in ("champion_bento", "text_bento"):
            summary.bento_tag = str(metadata["bento_tag"])
            summary.bento_built = bool(metadata.get("rebuilt", metadata.get("built")))
        if materialization.asset_key.path[-1] in ("passport", "text_passport"):
            summary.passport_id = str(metadata["passport_id"])
    summary.success = deployed.success
    summary.error = None if deployed.success else failure_message(deployed)
    summary.seconds = time.perf_counter() - begun
    return summary


def deploy_champion(
    defs: Definitions, pipeline: str, instance: DagsterInstance, actor: str
) -> ExecuteInProcessResult:
    """`champion_bento` and `passport` (a text pipeline: `text_bento`, `text_passport`) of
    the version the `champion` alias names now, in one run of the train job's deployment
    subset (what the deploy job holds)."""
    job = defs.resolve_job_def(train_job_name(pipeline))
    names = ("champion_bento", "passport")
    if model_key(pipeline, "champion_bento") not in defs.resolve_all_asset_keys():
        names = ("text_bento", "text_passport")
    return job.execute_in_process(
        instance=instance,
        run_config=QUIET,
        tags={"user": actor},
        asset_selection=[model_key(pipeline, name) for name in names],
        raise_on_error=False,
    )

"""The redeploy sensor: after a run that moved the champion alias without building its bento
(a rollback, a concluded experiment, a promotion launched from the UI), the champion's
bento and passport are materialised, so serving and audit follow the registry."""

from typing import Any

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    RunStatusSensorContext,
    SensorDefinition,
    SkipReason,
    run_status_sensor,
)

from ml_assets.run_tags import DEPLOYS_ITSELF_TAG


def redeploy_sensor_name(pipeline: str) -> str:
    return f"{pipeline}__redeploy_sensor"


def build_redeploy_sensor(
    pipeline: str, decisions: list[JobDefinition], deploy: Any
) -> SensorDefinition:
    """`deploy` is the asset job of `champion_bento` and `passport` (define_asset_job's
    type is not public Dagster API)."""

    @run_status_sensor(
        name=redeploy_sensor_name(pipeline),
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=decisions,
        request_job=deploy,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def redeploy_sensor(context: RunStatusSensorContext) -> RunRequest | SkipReason:
        """When a decision run (rollback, experiment conclusion, promotion) succeeds,
        starts one run of the deploy job: `champion_bento` (the bento of whichever
        version the `champion` alias now names: built, or the one it already has) and
        `passport` (which reads the decision from that version's tags). Run key: the
        decision run's id. Runs whose launcher deploys itself (`mlap promote`,
        `mlap rollback`) are skipped."""
        run = context.dagster_run
        if run.tags.get(DEPLOYS_ITSELF_TAG):
            return SkipReason(f"run {run.run_id[:8]} ({run.job_name}) deployed by its launcher")
        return RunRequest(
            run_key=f"redeploy:{run.run_id}",
            tags={"user": f"redeploy after {run.job_name}", "mlap/decision_run": run.run_id},
        )

    return redeploy_sensor

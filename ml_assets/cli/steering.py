"""`mlap`'s verbs that steer a trained pipeline: roll back, predict, monitor, promote.

They are registered on the `mlap` app in `ml_assets.cli.main`, in the order `--help` lists them.
"""

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from ml_assets.cli.jobs import day_range, resolve_job
from ml_assets.cli.location import code_location

if TYPE_CHECKING:
    from ml_assets.runs.monitor import MonitoredDay


def rollback(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
) -> None:
    """Move the champion alias back to the previous champion (recorded like a decision),
    then build that champion's bento and passport (as `mlap promote` does)."""
    from dagster import DagsterInstance

    defs = code_location()
    from ml_assets.run_tags import DEPLOYS_ITSELF_TAG
    from ml_assets.runs.promote import deploy_champion
    from ml_assets.runs.results import failure_message

    job = resolve_job(defs, f"{pipeline}__rollback", pipeline)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={"user": "mlap rollback", DEPLOYS_ITSELF_TAG: "true"},
        )
        for event in result.all_events:
            if event.event_type_value == "ASSET_OBSERVATION":
                observation = event.event_specific_data.asset_observation  # type: ignore[union-attr]
                typer.echo(observation.metadata["reason"].value)
        if not result.success:
            typer.echo(failure_message(result), err=True)
            raise typer.Exit(1)
        deployed = deploy_champion(defs, pipeline, instance, "mlap rollback")
    for event in deployed.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if materialization.asset_key.path[-1] in ("champion_bento", "text_bento"):
            built = metadata.get("rebuilt", metadata.get("built"))
            typer.echo(f"bento: {'built' if built else 'kept existing'} {metadata['bento_tag']}")
        if materialization.asset_key.path[-1] in ("passport", "text_passport"):
            typer.echo(f"passport: {metadata['passport_id']}")
    if not deployed.success:
        typer.echo(failure_message(deployed), err=True)
        raise typer.Exit(1)


def predict(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    start: Annotated[str, typer.Option(help="First day, e.g. 2013-06-01.")],
    end: Annotated[str | None, typer.Option(help="Last day (default: --start).")] = None,
    days_per_run: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Cut the range into runs of at most this many days (a run holds its "
            "range's features in memory; default: one run).",
        ),
    ] = None,
) -> None:
    """Score a range of days with the champion as ONE run of the `<pipeline>__predict` job
    (batch_predictions has a single-run backfill policy), or as runs of at most
    --days-per-run days, then print per day the rows, labelled rows, mean probability and
    predicted positive rate, and the model version. Exits 1 if a run fails."""
    from dagster import DagsterInstance

    defs = code_location()
    from ml_assets.keys import predict_job_name
    from ml_assets.runs.predict import run_predictions

    job = resolve_job(defs, predict_job_name(pipeline), pipeline)
    first, last = day_range(job, pipeline, start, end or start)
    with DagsterInstance.get() as instance:
        summary = run_predictions(defs, pipeline, first, last, instance, days_per_run)
    typer.echo(summary.render())
    if not summary.success:
        raise typer.Exit(1)


def monitor(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    start: Annotated[str, typer.Option(help="First day, e.g. 2013-06-12.")],
    end: Annotated[str | None, typer.Option(help="Last day (default: --start).")] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit 1 when any check fails (warn or error), not only runs.")
    ] = False,
) -> None:
    """Batch predictions for the range as ONE run, then drift_report and live_performance
    one day per run (in process, with a progress bar), and a summary per day: drifted
    share, live score and every check's verdict.

    Why one run per day for monitoring: their checks are partitioned, and a check result
    carries no partition of its own, it belongs to the run's single partition; so each
    day's verdicts need that day's run (their backfill policy is multi_run(1)).
    Exit 1 if a run fails. A failed check is not a run failure: it is reported in the
    summary and the exit code stays 0 unless --strict."""
    from dagster import DagsterInstance

    defs = code_location()
    from ml_assets.keys import daily_job_name, predict_job_name
    from ml_assets.runs.monitor import run_monitoring

    job = resolve_job(defs, predict_job_name(pipeline), pipeline)
    if not defs.get_repository_def().has_job(daily_job_name(pipeline)):
        typer.echo(f"{pipeline} has no monitoring configured (no `monitoring:` section)", err=True)
        raise typer.Exit(2)
    first, last = day_range(job, pipeline, start, end or start)
    days = date.fromisoformat(last).toordinal() - date.fromisoformat(first).toordinal() + 1
    typer.echo(f"{pipeline}: predicting {first} .. {last} as one run")
    with (
        DagsterInstance.get() as instance,
        typer.progressbar(length=days, label=f"monitoring {pipeline}") as bar,
    ):

        def advance(day: "MonitoredDay") -> None:
            bar.update(1)

        summary = run_monitoring(defs, pipeline, first, last, instance, on_day=advance)
    typer.echo(summary.predictions.render())
    if summary.days:
        typer.echo(summary.render())
    if not summary.success or (strict and summary.failed_checks):
        raise typer.Exit(1)


def promote(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    version: Annotated[str, typer.Option(help="Registered version to make the champion.")],
    reason: Annotated[str, typer.Option(help="Why: kept in the decision log and the alert.")],
) -> None:
    """A recorded manual override: make VERSION the champion (the current one becomes
    previous_champion) under the promotion lock, recorded like any decision (decision
    log, MLflow tags, an observation of <pipeline>/champion_model that alerts see), then
    build its bento and passport. The way to ship a fix the significance test cannot see.
    Refuses an empty reason, an unknown version, the current champion and a version whose
    files fail their hash check (exit 1, nothing moved)."""
    from dagster import DagsterInstance

    defs = code_location()
    from ml_assets.keys import train_job_name
    from ml_assets.runs.promote import run_manual_promotion

    resolve_job(defs, train_job_name(pipeline), pipeline)
    if not reason.strip():
        typer.echo("refused: --reason is empty: say why this version must be champion", err=True)
        raise typer.Exit(2)
    import getpass

    with DagsterInstance.get() as instance:
        actor = f"{getpass.getuser()} via mlap promote"
        summary = run_manual_promotion(defs, pipeline, version, reason, instance, actor=actor)
    if not summary.success:
        typer.echo(summary.render(), err=True)
        raise typer.Exit(1)
    typer.echo(summary.render())

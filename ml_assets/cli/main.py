"""`mlap`: the platform's own verbs. Dagster, `dagster dev` and `bentoml` keep working as usual."""

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from ml_assets import environment
from ml_assets.cli.audit import audit

if TYPE_CHECKING:
    from dagster import Definitions, JobDefinition

    from ml_assets.runs.backfill import BackfillSummary
    from ml_assets.runs.monitor import MonitoredDay
    from ml_assets.runs.replay_loop import LoopSummary
    from ml_assets.runs.training import TrainingSummary

app = typer.Typer(
    help="Dagster ML asset platform: the platform's own commands.", no_args_is_help=True
)
app.add_typer(audit, name="audit")


@app.callback()
def _setup() -> None:
    environment.quiet_telemetry()
    environment.dagster_home()


@app.command()
def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    start: Annotated[str | None, typer.Option(help="First day (default: first partition).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (default: last partition).")] = None,
) -> None:
    """Ingest, validate and featurise a range of days as one run, then print a summary."""
    summary = _backfill(pipeline, start, end)
    typer.echo(summary.render())
    if not summary.success or summary.failed_checks:
        raise typer.Exit(1)


# The demo's stretch: a champion trained on January-May meets the summer of 2013.
DEMO_HISTORY_END = "2013-06-11"
DEMO_REPLAY = ("2013-06-12", "2013-06-25")


@app.command()
def demo() -> None:
    """The platform's main job end to end on the embedded defaults: ingest January to
    mid-June 2013, train and decide the champion of flight_delays, build its bento, then
    replay two summer weeks through the landing zone and the sensors (drift, retraining,
    alerts) and print what the loop did."""
    summary = _backfill("flight_delays", None, DEMO_HISTORY_END)
    typer.echo(summary.render())
    if not summary.success:
        raise typer.Exit(1)
    trained = _train("flight_delays")
    typer.echo(trained.render())
    if not trained.success:
        raise typer.Exit(1)
    typer.echo(f"replaying {DEMO_REPLAY[0]} .. {DEMO_REPLAY[1]} through the loop:")
    looped = _replay_loop("flight_delays", *DEMO_REPLAY)
    typer.echo(looped.footer())
    if not all(d.success for d in looped.days):
        raise typer.Exit(1)


@app.command()
def replay(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    start: Annotated[str, typer.Option(help="First day to land, e.g. 2013-06-12.")],
    end: Annotated[str | None, typer.Option(help="Last day (default: the last partition).")] = None,
    speed: Annotated[float, typer.Option(help="Seconds between two days.")] = 5.0,
) -> None:
    """Feed the pipeline's history into its landing zone one day at a time, so that the
    arrival sensor of a running `dagster dev` (make ui) picks each day up live."""
    from ml_assets.definitions import defs
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.runs.replay import replay as land_days
    from ml_assets.runs.replay import replay_days

    config = load_pipeline_config(environment.pipelines_dir() / f"{pipeline}.yaml")
    last = (
        date.fromisoformat(end)
        if end
        else config.partitioning.end_date or date.fromisoformat(start)
    )
    days = replay_days(date.fromisoformat(start), last)
    sources = (defs.resources or {})["sources"]
    with typer.progressbar(length=len(days), label=f"landing {pipeline}") as bar:
        land_days(
            config,
            sources,
            date.fromisoformat(start),
            last,
            speed,
            on_day=lambda day, path, rows: bar.update(1),
        )
    typer.echo(f"landed {len(days)} day(s) in {sources.landing_folder(config.landing_folder)}")


@app.command()
def train(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
) -> None:
    """Train candidates on the latest windows, evaluate the challenger, decide the champion."""
    trained = _train(pipeline)
    typer.echo(trained.render())
    if not trained.success:
        raise typer.Exit(1)


@app.command()
def check(
    pipeline: Annotated[
        str | None, typer.Argument(help="One pipeline name (default: every pipeline file).")
    ] = None,
) -> None:
    """Validate pipeline files: each one loads, cross-checks and builds its definitions.
    Prints every error with its file and key path; exits 1 if any file is broken."""
    from ml_assets.factory import build_pipeline_definitions
    from ml_assets.lib.config import load_pipeline_folder

    folder = environment.pipelines_dir()
    loaded = load_pipeline_folder(folder)
    errors = dict(loaded.errors)
    checked = [c for c in loaded.configs if pipeline in (None, c.name)]
    for config in checked:
        try:
            build_pipeline_definitions(config)
        except Exception as exc:
            errors[folder / f"{config.name}.yaml"] = f"{type(exc).__name__}: {exc}"
            continue
        typer.echo(f"ok      {config.name}")
    if pipeline is not None:
        errors = {p: e for p, e in errors.items() if p.stem == pipeline}
        if not checked and not errors:
            typer.echo(f"no pipeline {pipeline!r} in {folder}", err=True)
            raise typer.Exit(2)
    for path, error in errors.items():
        typer.echo(f"BROKEN  {path.name}\n{error}", err=True)
    if errors:
        raise typer.Exit(1)


@app.command("config-reference")
def config_reference() -> None:
    """Print the Markdown reference of every pipeline and alerts config key, rendered from
    the config models (`make docs` writes it to docs/config-reference.md)."""
    from ml_assets.lib.config.reference_doc import render

    typer.echo(render(), nl=False)


@app.command()
def rollback(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
) -> None:
    """Move the champion alias back to the previous champion (recorded like a decision)."""
    from dagster import DagsterInstance

    from ml_assets.definitions import defs
    from ml_assets.runs.results import failure_message

    job = _job(defs, f"{pipeline}__rollback", pipeline)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, tags={"user": "mlap rollback"}
        )
    for event in result.all_events:
        if event.event_type_value == "ASSET_OBSERVATION":
            observation = event.event_specific_data.asset_observation  # type: ignore[union-attr]
            typer.echo(observation.metadata["reason"].value)
    if not result.success:
        typer.echo(failure_message(result), err=True)
        raise typer.Exit(1)


@app.command()
def predict(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    start: Annotated[str, typer.Option(help="First day, e.g. 2013-06-01.")],
    end: Annotated[str | None, typer.Option(help="Last day (default: --start).")] = None,
) -> None:
    """Score a range of days with the champion as ONE run of the `<pipeline>__predict` job
    (batch_predictions has a single-run backfill policy), then print per day the rows,
    labelled rows, mean probability and predicted positive rate, and the model version.
    Exits 1 if the run fails."""
    from dagster import DagsterInstance

    from ml_assets.definitions import defs
    from ml_assets.keys import predict_job_name
    from ml_assets.runs.predict import run_predictions

    job = _job(defs, predict_job_name(pipeline), pipeline)
    first, last = _day_range(job, pipeline, start, end or start)
    with DagsterInstance.get() as instance:
        summary = run_predictions(defs, pipeline, first, last, instance)
    typer.echo(summary.render())
    if not summary.success:
        raise typer.Exit(1)


@app.command()
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

    from ml_assets.definitions import defs
    from ml_assets.keys import daily_job_name, predict_job_name
    from ml_assets.runs.monitor import run_monitoring

    job = _job(defs, predict_job_name(pipeline), pipeline)
    if not defs.get_repository_def().has_job(daily_job_name(pipeline)):
        typer.echo(f"{pipeline} has no monitoring configured (no `monitoring:` section)", err=True)
        raise typer.Exit(2)
    first, last = _day_range(job, pipeline, start, end or start)
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


@app.command()
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

    from ml_assets.definitions import defs
    from ml_assets.keys import train_job_name
    from ml_assets.runs.promote import run_manual_promotion

    _job(defs, train_job_name(pipeline), pipeline)
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


@app.command()
def serve(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 3100,
) -> None:
    """Serve the current champion's bento with `bentoml serve` on 127.0.0.1."""
    import os

    from ml_assets.definitions import defs

    resources = defs.resources or {}
    try:
        bento = resources["refs_io_manager"].read([pipeline, "champion_bento"])
    except FileNotFoundError:
        typer.echo(f"{pipeline} has no bento yet: run `mlap train {pipeline}` first", err=True)
        raise typer.Exit(2) from None
    command, env = resources["bento_store"].serve_command(bento.tag, "127.0.0.1", port)
    typer.echo(f"serving {bento.tag} on http://127.0.0.1:{port}")
    os.execvpe(command[0], command, env)


def _replay_loop(pipeline: str, start: str, end: str) -> "LoopSummary":
    from dagster import DagsterInstance

    from ml_assets.definitions import defs
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.runs.replay import replay_days
    from ml_assets.runs.replay_loop import replay_through_loop

    config = load_pipeline_config(environment.pipelines_dir() / f"{pipeline}.yaml")
    days = [
        date.fromisoformat(d)
        for d in replay_days(date.fromisoformat(start), date.fromisoformat(end))
    ]
    with DagsterInstance.get() as instance:
        return replay_through_loop(defs, instance, config, days, echo=typer.echo)


def _train(pipeline: str) -> "TrainingSummary":
    from dagster import DagsterInstance

    from ml_assets.definitions import defs
    from ml_assets.runs.training import run_training

    _job(defs, f"{pipeline}__train", pipeline)
    with DagsterInstance.get() as instance:
        return run_training(defs, pipeline, instance)


def _job(defs: "Definitions", name: str, pipeline: str) -> "JobDefinition":
    """The job, or exit 2 naming the known pipelines when there is no job of that name.

    Dagster raises DagsterInvariantViolationError for a name it does not know, and the
    same type for other broken invariants: a job that exists but fails to build is
    re-raised, not reported as an unknown pipeline."""
    from dagster import DagsterInvariantViolationError

    try:
        return defs.resolve_job_def(name)
    except DagsterInvariantViolationError:
        if defs.get_repository_def().has_job(name):
            raise
        jobs = [j.name for j in defs.jobs or []]
        known = sorted(n.removesuffix("__ingest") for n in jobs if n.endswith("__ingest"))
        typer.echo(f"unknown pipeline {pipeline!r}; known: {', '.join(known)}", err=True)
        raise typer.Exit(2) from None


def _backfill(pipeline: str, start: str | None, end: str | None) -> "BackfillSummary":
    from dagster import DagsterInstance

    from ml_assets.definitions import defs
    from ml_assets.keys import ingest_job_name
    from ml_assets.runs.backfill import run_backfill

    job = _job(defs, ingest_job_name(pipeline), pipeline)
    first, last = _day_range(job, pipeline, start, end)
    with DagsterInstance.get() as instance:
        return run_backfill(defs, pipeline, first, last, instance)


def _day_range(
    job: "JobDefinition", pipeline: str, start: str | None, end: str | None
) -> tuple[str, str]:
    """[start, end] as partition keys of the job (default: all of them); exit 2 naming the
    pipeline's partitions when a day is not one, or when the range runs backwards."""
    keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
    first, last = start or keys[0], end or keys[-1]
    for label, value in (("--start", first), ("--end", last)):
        if value not in keys:
            typer.echo(
                f"{label} {value} is not a partition of {pipeline} ({keys[0]}..{keys[-1]})",
                err=True,
            )
            raise typer.Exit(2)
    if keys.index(last) < keys.index(first):
        typer.echo(f"--end {last} is before --start {first}", err=True)
        raise typer.Exit(2)
    return first, last


if __name__ == "__main__":
    app()

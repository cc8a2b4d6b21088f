"""`mlap`: the platform's own verbs. Dagster, `dagster dev` and `bentoml` keep working as usual."""

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ml_assets import environment
from ml_assets.cli.audit import audit
from ml_assets.cli.experiment import experiment
from ml_assets.cli.jobs import day_range, resolve_job
from ml_assets.cli.location import code_location
from ml_assets.cli.steering import monitor, predict, promote, rollback

if TYPE_CHECKING:
    from ml_assets.runs.backfill import BackfillSummary
    from ml_assets.runs.replay_loop import LoopSummary
    from ml_assets.runs.training import TrainingSummary

app = typer.Typer(
    help="Dagster ML asset platform: the platform's own commands.", no_args_is_help=True
)
app.add_typer(audit, name="audit")
app.add_typer(experiment, name="experiment")


@app.callback()
def _setup() -> None:
    environment.quiet_telemetry()
    environment.dagster_home()


@app.command()
def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    start: Annotated[str | None, typer.Option(help="First day (default: first partition).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (default: last partition).")] = None,
    days_per_run: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Cut the range into runs of at most this many days (a run holds its "
            "range's rows in memory; default: one run).",
        ),
    ] = None,
) -> None:
    """Ingest, validate and featurise a range of days as one run, or as runs of at most
    --days-per-run days (a static table: the whole table), then print a summary."""
    summary = _backfill(pipeline, start, end, days_per_run)
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
    defs = code_location()
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.runs.replay import replay as land_days
    from ml_assets.runs.replay import replay_days

    config = load_pipeline_config(environment.pipelines_dir() / f"{pipeline}.yaml")
    last = date.fromisoformat(end) if end else config.daily.end_date or date.fromisoformat(start)
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


# Defined in steering.py, registered here so that `mlap --help` lists them where it always did.
app.command()(rollback)
app.command()(predict)
app.command()(monitor)
app.command()(promote)


@app.command()
def serve(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 3100,
) -> None:
    """Serve the current champion's bento with `bentoml serve` on 127.0.0.1 (while an
    experiment runs, its bento: the champion and the challenger); a tabular champion logs
    what it scores to the lake (MLAP_INFERENCE_LOG_URL; set it empty for no log). A text
    pipeline serves the bento of its registered champion."""
    import os

    from ml_assets.cli.serving import serve_plan

    plan = serve_plan(dict(code_location().resources or {}), pipeline, port)
    typer.echo(f"serving {plan.bento_tag} on http://127.0.0.1:{port}")
    if plan.inference_log:
        typer.echo(f"inference log: {plan.inference_log}")
    os.execvpe(plan.command[0], plan.command, plan.env)


@app.command("bento-image")
def bento_image(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")],
    folder: Annotated[Path, typer.Argument(help="Build context to write (must not exist).")],
) -> None:
    """Write the build context of the current champion's serving image: its bento with the
    models inside, this environment's exact package versions and bentos/Dockerfile. Build
    it with podman, buildah or docker (`--build-arg BASE_IMAGE=...` to change the base)."""
    from resources.bento_image import write_context

    resources = code_location().resources or {}
    try:
        bento = resources["refs_io_manager"].read([pipeline, "champion_bento"])
    except FileNotFoundError:
        typer.echo(f"{pipeline} has no bento yet: run `mlap train {pipeline}` first", err=True)
        raise typer.Exit(2) from None
    if folder.exists():
        typer.echo(f"{folder} exists: give a new folder", err=True)
        raise typer.Exit(2)
    write_context(resources["bento_store"], bento.tag, folder)
    name, version = bento.tag.split(":")
    typer.echo(f"wrote the build context of {bento.tag} to {folder}; build it with")
    typer.echo(f"  podman build -t {name}:{version} {folder}")


def _replay_loop(pipeline: str, start: str, end: str) -> "LoopSummary":
    from dagster import DagsterInstance

    defs = code_location()
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

    defs = code_location()
    from ml_assets.runs.training import run_training

    resolve_job(defs, f"{pipeline}__train", pipeline)
    with DagsterInstance.get() as instance:
        return run_training(defs, pipeline, instance)


def _backfill(
    pipeline: str, start: str | None, end: str | None, days_per_run: int | None = None
) -> "BackfillSummary":
    from dagster import DagsterInstance

    defs = code_location()
    from ml_assets.keys import ingest_job_name
    from ml_assets.runs.backfill import run_backfill

    job = resolve_job(defs, ingest_job_name(pipeline), pipeline)
    if job.partitions_def is None:
        if start or end:
            typer.echo(f"{pipeline} is a static table: it has no days to choose", err=True)
            raise typer.Exit(2)
        first = last = None
    else:
        first, last = day_range(job, pipeline, start, end)
    with DagsterInstance.get() as instance:
        return run_backfill(defs, pipeline, first, last, instance, days_per_run=days_per_run)


if __name__ == "__main__":
    app()

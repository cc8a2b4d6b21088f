"""`mlap experiment start|status|stop <pipeline>`: a live experiment of the champion against
a challenger (ml_assets.lifecycle.experiments). `mlap serve` serves both while it runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ml_assets import environment
from ml_assets.cli.location import code_location

experiment = typer.Typer(
    help="Run the champion against a challenger on live traffic (shadow or A/B).",
    no_args_is_help=True,
)
Pipeline = Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")]


def _resources(pipeline: str) -> tuple[Any, dict[str, Any]]:
    from ml_assets.lib.config import load_pipeline_config

    path = environment.pipelines_dir() / f"{pipeline}.yaml"
    if not path.is_file():
        typer.echo(f"no pipeline {pipeline!r} ({path} does not exist)", err=True)
        raise typer.Exit(2)
    return load_pipeline_config(path), dict(code_location().resources or {})


@experiment.command()
def start(
    pipeline: Pipeline,
    mode: Annotated[
        str | None, typer.Option(help="shadow or ab (default: serving.experiment.mode).")
    ] = None,
    share: Annotated[
        float | None, typer.Option(help="A/B share of entities for the challenger.")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Challenger version (default: the challenger alias).")
    ] = None,
) -> None:
    """Package the challenger, build the bento that serves it next to the champion, and
    record the experiment; then restart `mlap serve` to serve it."""
    import getpass

    from ml_assets.lifecycle.experiments import start_experiment

    config, resources = _resources(pipeline)
    if share is not None and not 0 < share < 1:
        typer.echo(f"refused: --share must be between 0 and 1, not {share}", err=True)
        raise typer.Exit(2)
    try:
        record = start_experiment(
            resources["model_registry"],
            resources["bento_store"],
            resources["lake"],
            config,
            mode=mode,
            share=share,
            version=version,
            actor=f"{getpass.getuser()} via mlap experiment start",
        )
    except ValueError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(record.render())
    typer.echo(f"serve it: mlap serve {pipeline}")


@experiment.command()
def status(pipeline: Pipeline) -> None:
    """The running experiment and, per arm, the records and requests its inference log
    holds since it started (exit 1 when none runs)."""
    from ml_assets.lib.experiment_record import read_current
    from ml_assets.lifecycle.experiments import experiment_traffic

    _, resources = _resources(pipeline)
    record = read_current(resources["lake"].base_path, pipeline)
    if record is None:
        typer.echo(f"{pipeline} runs no experiment")
        raise typer.Exit(1)
    typer.echo(record.render())
    counts = experiment_traffic(resources["lake"], record)
    if counts.empty:
        typer.echo("no logged traffic yet (the log is written every flush interval)")
    else:
        typer.echo(counts.to_string(index=False))


@experiment.command()
def stop(
    pipeline: Pipeline,
    reason: Annotated[str, typer.Option(help="Why it ends (kept with the record).")] = "stopped",
) -> None:
    """End the running experiment (kept in the lake); `mlap serve` then serves the champion
    alone."""
    from ml_assets.lifecycle.experiments import stop_experiment

    _, resources = _resources(pipeline)
    try:
        record = stop_experiment(resources["lake"], pipeline, reason)
    except ValueError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(record.render())

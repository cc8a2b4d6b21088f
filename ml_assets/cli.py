"""`mlap`: the platform's own verbs. Dagster, `dagster dev` and `bentoml` keep working as usual."""

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from ml_assets import environment

if TYPE_CHECKING:
    from ml_assets.backfill import BackfillSummary

app = typer.Typer(
    help="Dagster ML asset platform: the platform's own commands.", no_args_is_help=True
)


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


@app.command()
def demo() -> None:
    """The platform's main job end to end on the embedded defaults (the flight_delays data)."""
    summary = _backfill("flight_delays", None, None)
    typer.echo(summary.render())
    if not summary.success:
        raise typer.Exit(1)


def _backfill(pipeline: str, start: str | None, end: str | None) -> "BackfillSummary":
    from dagster import DagsterInstance

    from ml_assets.backfill import run_backfill
    from ml_assets.definitions import defs
    from ml_assets.factory import ingest_job_name

    try:
        job = defs.resolve_job_def(ingest_job_name(pipeline))
    except Exception:
        jobs = [j.name for j in defs.jobs or []]
        known = sorted(name.removesuffix("__ingest") for name in jobs if name.endswith("__ingest"))
        typer.echo(f"unknown pipeline {pipeline!r}; known: {', '.join(known)}", err=True)
        raise typer.Exit(2) from None
    keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
    first, last = start or keys[0], end or keys[-1]
    for label, value in (("--start", first), ("--end", last)):
        if value not in keys:
            typer.echo(
                f"{label} {value} is not a partition of {pipeline} ({keys[0]}..{keys[-1]})",
                err=True,
            )
            raise typer.Exit(2)
    date.fromisoformat(first)
    with DagsterInstance.get() as instance:
        return run_backfill(defs, pipeline, first, last, instance)


if __name__ == "__main__":
    app()

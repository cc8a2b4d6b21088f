"""The job a CLI verb runs and the days it runs on, or exit 2 with what is known."""

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from dagster import Definitions, JobDefinition


def resolve_job(defs: "Definitions", name: str, pipeline: str) -> "JobDefinition":
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


def day_range(
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

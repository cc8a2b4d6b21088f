"""`mlap audit`: passports, the decision log and lineage, reviewable without the UI."""

import json
from typing import Annotated, Any

import typer

from ml_assets import environment
from ml_assets.cli.location import code_location

audit = typer.Typer(help="Audit champions: passports, decision log, lineage.", no_args_is_help=True)

Pipeline = Annotated[str, typer.Argument(help="Pipeline name, e.g. flight_delays.")]
Version = Annotated[str | None, typer.Option(help="Registered version (default: the champion).")]


@audit.command()
def show(
    pipeline: Pipeline,
    version: Version = None,
    format: Annotated[str, typer.Option(help="md or json.")] = "md",
) -> None:
    """Print a champion's passport."""
    from ml_assets.lib.passport_render import render_markdown

    if format not in ("md", "json"):
        _fail(f"--format must be md or json, not {format!r}")
    passport = _passport(pipeline, version)
    typer.echo(json.dumps(passport, indent=2) if format == "json" else render_markdown(passport))


@audit.command()
def lineage(pipeline: Pipeline, version: Version = None) -> None:
    """The tree of materialisations from the served model back to the raw partitions."""
    from ml_assets.lib.passport_render import render_lineage

    passport = _passport(pipeline, version)
    typer.echo(render_lineage(passport))
    if passport["missing"]:
        typer.echo(f"{len(passport['missing'])} item(s) missing from the instance:", err=True)
        for item in passport["missing"]:
            typer.echo(f"  {item}", err=True)


@audit.command()
def verify(pipeline: Pipeline) -> None:
    """Check the decision log's hash chain against the head anchored in the registry."""
    from ml_assets.lib.decision_log import verify as verify_log

    resources = _resources(pipeline)
    path = resources["audit_store"].decision_log(pipeline)
    anchor = resources["model_registry"].anchored_head(pipeline)
    result = verify_log(path, expected_head=anchor)
    if not result.ok:
        _fail(f"decision log of {pipeline} FAILED verification: {result.problem}", code=1)
    typer.echo(
        f"decision log of {pipeline}: {result.entries} entries, chain intact"
        + (", head matches the registry's anchor" if anchor else ", no anchor recorded")
    )


def _resources(pipeline: str) -> dict[str, Any]:
    defs = code_location()

    if not any(j.name == f"{pipeline}__ingest" for j in defs.jobs or []):
        known = sorted(
            j.name.removesuffix("__ingest") for j in defs.jobs or [] if j.name.endswith("__ingest")
        )
        _fail(f"unknown pipeline {pipeline!r}; known: {', '.join(known)}")
    return dict(defs.resources or {})


def _passport(pipeline: str, version: str | None) -> dict[str, Any]:
    resources = _resources(pipeline)
    if version is None:
        champion = resources["model_registry"].by_alias(pipeline, "champion")
        if champion is None:
            _fail(f"{pipeline} has no champion yet")
        version = str(champion.version)
    try:
        passport: dict[str, Any] = resources["audit_store"].read_passport(pipeline, version)
    except FileNotFoundError as exc:
        _fail(str(exc))
    return passport


def _fail(message: str, code: int = 2) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


environment.quiet_telemetry()

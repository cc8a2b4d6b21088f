"""What `mlap serve` serves: the bento of a pipeline's champion, found for either kind of
pipeline, and the `bentoml serve` command that serves it."""

from dataclasses import dataclass
from typing import Any, NoReturn

import typer


@dataclass(frozen=True)
class ServePlan:
    """The bento to serve, the command and its environment, and where it logs (None when
    the environment gives the service no lake)."""

    bento_tag: str
    command: list[str]
    env: dict[str, str]
    inference_log: str | None


def serve_plan(resources: dict[str, Any], pipeline: str, port: int) -> ServePlan:
    """The plan for the pipeline's current champion on 127.0.0.1:`port`; exits 2 with
    what to run first when there is no champion bento yet."""
    try:
        bento = resources["refs_io_manager"].read([pipeline, "champion_bento"])
    except FileNotFoundError:
        bento = None
    if bento is None:
        target = _text_bento(resources, pipeline)
    else:
        target = served_bento(pipeline, bento, resources["lake"].base_path)
    command, env = resources["bento_store"].serve_command(target, "127.0.0.1", port)
    # The service logs what it scores to this lake (an explicit value, even empty, wins).
    env.setdefault("MLAP_INFERENCE_LOG_URL", resources["lake"].base_path)
    log = env["MLAP_INFERENCE_LOG_URL"]
    return ServePlan(
        target, command, env, f"{log}/{pipeline}/inference_log_files/" if log else None
    )


def _text_bento(resources: dict[str, Any], pipeline: str) -> str:
    """The bento of a text pipeline's registered champion (`text_bento` builds it)."""
    from ml_assets.lifecycle.text_promotion import ENCODER, serving_tag
    from resources.model_registry import CHAMPION

    registry = resources["model_registry"]
    champion = registry.by_alias(pipeline, CHAMPION)
    if champion is None or ENCODER not in registry.version_tags(pipeline, str(champion.version)):
        _fail(f"{pipeline} has no bento yet: run `mlap train {pipeline}` first")
    tag = f"{pipeline}:{serving_tag(champion).partition(':')[2]}"
    if resources["bento_store"].find_bento(tag) is None:
        _fail(
            f"{pipeline}'s champion v{champion.version} has no bento yet: materialise "
            f"{pipeline}/text_bento (or run `mlap train {pipeline}`)"
        )
    return tag


def served_bento(pipeline: str, champion: Any, lake: str) -> str:
    """The running experiment's bento while its champion is still the champion; else
    the champion's own (a new champion ends what the experiment compared)."""
    from ml_assets.lib.experiment_record import read_current

    record = read_current(lake, pipeline)
    if record is None:
        return str(champion.tag)
    if record.champion_version != str(champion.model.version):
        typer.echo(
            f"the {record.mode} experiment compares champion v{record.champion_version}, but"
            f" the champion is now v{champion.model.version}: serving the champion alone"
            f" (`mlap experiment stop {pipeline}`)",
            err=True,
        )
        return str(champion.tag)
    typer.echo(record.render())
    return record.bento_tag


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)

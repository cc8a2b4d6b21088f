"""Which experiment a service runs, from its bento arguments and its pipeline's config.

A bento names its models: `--arg challenger=<model tag>` adds the challenger (packaged
with the bento like the champion), `--arg experiment=shadow|ab` and `--arg share=...`
override `serving.experiment`'s mode and share. A bento without a challenger serves the
champion alone whatever the config's mode; asking for shadow or ab without one is refused
when the service loads, not answered by a service that silently runs no experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from bentos.experiment import LiveExperiment
from bentos.responses import ResponseShape
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.experiment import ExperimentMode
from ml_assets.lib.experiment import salt_of
from ml_assets.lib.inference_log import ScoredBatch, entity_key
from ml_assets.lib.scoring import Scorer


class BentoArguments(BaseModel):
    """What a bento serves, fixed when it is built (`--arg model=...`)."""

    model: str = Field(
        min_length=1,
        description="Tag of the BentoML model holding the serving bundle.",
        examples=["pipeline_name:v3-1a2b3c4d"],
    )
    challenger: str | None = Field(
        None,
        min_length=1,
        description="Tag of the BentoML model of an experiment's challenger.",
        examples=["pipeline_name:v4-5e6f7a8b"],
    )
    experiment: ExperimentMode | None = Field(
        None, description="off, shadow or ab; unset: the pipeline's serving.experiment.mode."
    )
    share: float | None = Field(
        None, gt=0, lt=1, description="A/B share; unset: serving.experiment.share."
    )


def experiment_mode(arguments: BentoArguments, config: PipelineConfig) -> str:
    """The mode the service runs: `--arg experiment`, else `serving.experiment.mode` when
    the bento has a challenger, else off. An explicit shadow or ab without a challenger
    is a ValueError (a champion's own bento has none, whatever the config's mode)."""
    if arguments.challenger is None:
        if arguments.experiment not in (None, "off"):
            raise ValueError(
                f"experiment={arguments.experiment} needs a challenger: build or serve with"
                " `--arg challenger=<model tag>` (`mlap experiment start` does)"
            )
        return "off"
    return arguments.experiment or config.serving.experiment.mode


def load_experiment(
    arguments: BentoArguments,
    config: PipelineConfig,
    bundle: Path | None,
    shape: ResponseShape,
    validate: Callable[[list[dict[str, Any]]], list[Any]],
    log: Callable[[ScoredBatch], None] | None,
    on_shadow: Callable[[str], None],
    on_fallback: Callable[[str, int], None],
) -> LiveExperiment | None:
    """The service's experiment, its challenger loaded from `bundle` (verified hashes);
    None when the mode is `off`."""
    mode = experiment_mode(arguments, config)
    if mode == "off" or bundle is None or arguments.challenger is None:
        return None
    settings = config.serving.experiment
    challenger = Scorer.from_bundle(bundle)
    return LiveExperiment(
        mode=mode,
        challenger=challenger,
        challenger_tag=arguments.challenger,
        shape=shape,
        validate=validate,
        share=arguments.share or settings.share,
        key=settings.entity_key or entity_key(config),
        salt=salt_of(config.name, challenger.model_version),
        shadow_queue=settings.shadow_queue,
        log=log,
        on_shadow=on_shadow,
        on_fallback=on_fallback,
    )

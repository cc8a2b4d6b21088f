"""Start and stop a live experiment: package the challenger, build the bento that serves it
next to the champion, and record the experiment where `mlap serve` and the experiment
assets read it (ml_assets.lib.experiment_record)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.experiment_record import (
    ExperimentRecord,
    archive,
    arm_counts,
    read_current,
    write_current,
)
from ml_assets.lib.inference_log import entity_key, log_days, read_day
from ml_assets.lifecycle.packaging import package_model
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource
from resources.model_registry import CHALLENGER, CHAMPION, ModelRegistryResource


def start_experiment(
    registry: ModelRegistryResource,
    store: BentoStoreResource,
    lake: LakeResource,
    config: PipelineConfig,
    *,
    mode: str | None = None,
    share: float | None = None,
    version: str | None = None,
    actor: str = "mlap experiment start",
) -> ExperimentRecord:
    """Record and package an experiment of the champion against `version` (else
    `serving.experiment.challenger_version`, else the `challenger` alias), in `mode`
    (else the config's) with `share` (else the config's). Refused while one runs, when
    there is no champion or challenger, or when the challenger is the champion."""
    settings = config.serving.experiment
    pipeline = config.name
    running = read_current(lake.base_path, pipeline)
    if running is not None:
        raise ValueError(
            f"{pipeline} already runs an experiment (v{running.champion_version} against"
            f" v{running.challenger_version}, since {running.started_at}): stop it first"
        )
    chosen_mode = mode or settings.mode
    if chosen_mode not in ("shadow", "ab"):
        raise ValueError(
            f"{pipeline}: an experiment runs in shadow or ab mode (serving.experiment.mode"
            f" is {settings.mode!r}; pass --mode)"
        )
    key = settings.entity_key or entity_key(config)
    if chosen_mode == "ab" and not key:
        raise ValueError(f"{pipeline}: an A/B experiment needs serving.experiment.entity_key")
    champion = registry.by_alias(pipeline, CHAMPION)
    wanted = version or settings.challenger_version
    challenger = (
        registry.version(pipeline, wanted) if wanted else registry.by_alias(pipeline, CHALLENGER)
    )
    if champion is None or challenger is None:
        raise ValueError(
            f"{pipeline}: an experiment needs a champion and a challenger (champion:"
            f" {champion.version if champion else 'none'}, challenger:"
            f" {challenger.version if challenger else 'none'})"
        )
    if str(challenger.version) == str(champion.version):
        raise ValueError(f"{pipeline}: v{challenger.version} is the champion itself")
    champion_tag = package_model(registry, store, lake, config, champion)
    challenger_tag = package_model(registry, store, lake, config, challenger)
    chosen_share = share if share is not None else settings.share
    arguments = {"challenger": challenger_tag, "experiment": chosen_mode}
    if chosen_mode == "ab":
        arguments["share"] = str(chosen_share)
    # One bento per champion, challenger, mode and share: starting the same experiment
    # again reuses it.
    identity = hashlib.sha256(f"{champion_tag} {sorted(arguments.items())}".encode())
    bento_version = f"x{identity.hexdigest()[:12]}"
    bento = store.find_bento(f"{pipeline}:{bento_version}") or store.build(
        model_tag=champion_tag,
        bento_version=bento_version,
        labels={
            "pipeline": pipeline,
            "model_version": str(champion.version),
            "challenger_version": str(challenger.version),
            "experiment": chosen_mode,
        },
        description=f"Champion v{champion.version} of `{pipeline}` with challenger"
        f" v{challenger.version} in {chosen_mode} mode.",
        arguments=arguments,
    )
    record = ExperimentRecord(
        pipeline=pipeline,
        mode=chosen_mode,
        share=chosen_share,
        entity_key=list(key or []),
        champion_version=str(champion.version),
        champion_tag=champion_tag,
        challenger_version=str(challenger.version),
        challenger_tag=challenger_tag,
        bento_tag=str(bento.tag),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        started_by=actor,
        min_samples=settings.min_samples,
        confidence=settings.confidence,
    )
    write_current(lake.base_path, record)
    return record


def stop_experiment(lake: LakeResource, pipeline: str, reason: str) -> ExperimentRecord:
    """End the running experiment (kept in the lake with when and why)."""
    record = read_current(lake.base_path, pipeline)
    if record is None:
        raise ValueError(f"{pipeline} runs no experiment")
    stopped = record.stopped(datetime.now(UTC), reason)
    archive(lake.base_path, stopped)
    return stopped


def experiment_traffic(lake: LakeResource, record: ExperimentRecord) -> pd.DataFrame:
    """Per arm, what the service logged during the experiment (every logged day read:
    the log's day is the event's, which may lie before the experiment's start)."""
    days = log_days(lake.base_path, record.pipeline)
    frames = [read_day(lake.base_path, record.pipeline, day)[0] for day in days]
    log = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return arm_counts(log, record)

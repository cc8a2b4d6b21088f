"""The asset jobs of a pipeline besides ingest and training: one day end to end, batch
predictions, served traffic, a static table's scoring batches; and the executor each kind
of job asks for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from dagster import (
    AssetKey,
    AssetSelection,
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    ExecutorDefinition,
    define_asset_job,
)

from ml_assets.assets.served_traffic import SERVED_PERFORMANCE
from ml_assets.keys import (
    daily_job_name,
    deploy_job_name,
    features_key,
    model_key,
    predict_job_name,
    score_batch_job_name,
    served_traffic_job_name,
)
from ml_assets.lib.config import PipelineConfig


def score_batch_job(
    config: PipelineConfig, assets: list[Any], partitions: DynamicPartitionsDefinition
) -> Any:
    """One scoring batch of a static table, from its landed file to its checks."""
    return define_asset_job(
        score_batch_job_name(config.name),
        selection=AssetSelection.assets(*assets),
        partitions_def=partitions,
        description=(
            f"One scoring batch of `{config.name}`: validated, featurised, scored by the "
            "champion" + (", checked for drift and performance." if config.monitoring else ".")
        ),
    )


class Executors:
    """The executor a job of each kind asks for: Dagster's `k8s_job_executor` (one pod per
    step) for the kinds in `step_pods`, else None (the code location's executor)."""

    def __init__(self, step_pods: Collection[str]) -> None:
        self.step_pods = frozenset(step_pods)

    def of(self, kind: str) -> ExecutorDefinition | None:
        if kind not in self.step_pods:
            return None
        from dagster_k8s import k8s_job_executor  # the Kubernetes client, production only

        return k8s_job_executor


def predict_job(
    config: PipelineConfig,
    partitions: DailyPartitionsDefinition,
    executor: ExecutorDefinition | None,
) -> Any:
    """Batch predictions of the selected days by the champion."""
    return define_asset_job(
        predict_job_name(config.name),
        selection=AssetSelection.assets(model_key(config.name, "batch_predictions")),
        partitions_def=partitions,
        description=f"Scores `{config.name}`'s feature partitions with the champion.",
        executor_def=executor,
    )


def served_traffic_job(
    config: PipelineConfig, partitions: DailyPartitionsDefinition, keys: list[AssetKey]
) -> Any:
    """One day of the service's inference log, and its performance where labels join."""
    return define_asset_job(
        served_traffic_job_name(config.name),
        selection=AssetSelection.assets(*keys),
        partitions_def=partitions,
        description=(
            f"Reads a day of `{config.name}`'s inference log (what the service answered) "
            "and judges it against the day's labels. The inference-log sensor starts it."
        ),
    )


def daily_job(
    config: PipelineConfig,
    partitions: DailyPartitionsDefinition,
    executor: ExecutorDefinition | None,
    served: list[AssetKey],
    monitored: tuple[str, ...] = ("batch_predictions", "drift_report", "live_performance"),
) -> Any:
    """One day end to end: the event source's raw, validated and quarantined rows, features,
    the champion's predictions, drift and live performance (`monitored`: a text pipeline's
    are its own; blocking checks stop the rest), and the day's served traffic (`served`:
    its assets) judged against the labels that came with the day: `served_performance`,
    and `ab_test`, so that a running experiment is judged on each day as its labels land
    and the experiment sensor can conclude it (the inference-log sensor's runs come when
    the log is written, usually before the labels)."""
    event = config.event_source_name
    keys = [
        AssetKey([config.name, f"{stage}_{event}"]) for stage in ("raw", "validated", "quarantined")
    ]
    keys += [features_key(config.name)]
    keys += [model_key(config.name, name) for name in monitored]
    if model_key(config.name, SERVED_PERFORMANCE) in served:  # an entity key joins labels
        keys += served  # inference_log, served_drift, served_performance, ab_test if built
    return define_asset_job(
        daily_job_name(config.name),
        selection=AssetSelection.assets(*keys),
        partitions_def=partitions,
        description=(
            f"One day of `{config.name}` as it arrives: validation, features, the champion's "
            "predictions, drift and live performance. The arrival sensor starts it."
        ),
        executor_def=executor,
    )


def deploy_job(pipeline: str, bento: str, passport: str, champion: str, after: str) -> Any:
    """`<pipeline>__deploy`: the bento and passport assets of the current `champion`,
    which the redeploy sensor starts `after` the decisions that move the aliases."""
    return define_asset_job(
        deploy_job_name(pipeline),
        selection=AssetSelection.assets(model_key(pipeline, bento), model_key(pipeline, passport)),
        description=(
            f"Builds the bento and passport of `{pipeline}`'s current {champion}; "
            f"the redeploy sensor starts it after {after}."
        ),
    )

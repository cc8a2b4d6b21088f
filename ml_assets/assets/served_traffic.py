"""What the service answered, as assets: the day's inference log, and its performance once
the day's labels have arrived.

The service writes its log as files (bentos/inference_log.py); `inference_log` reads a
day of them into one table, and `served_performance` joins it on the entity key to the
day's validated events, whose labels arrive later with the day's data.
"""

from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.assets.experiment_test import ab_test_asset
from ml_assets.assets.served_drift import served_drift_asset
from ml_assets.keys import MONITORING_GROUP, code_version, model_key, validated_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.inference_log import entity_key, outputs_of, summary, with_labels
from ml_assets.lib.live_performance import evaluate
from ml_assets.lib.problems import Calibration, ProblemKind, problem_for
from ml_assets.lib.scoring import decision_threshold
from ml_assets.lifecycle.served_bundle import served_metadata
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource

INFERENCE_LOG = "inference_log"
SERVED_PERFORMANCE = "served_performance"
LOG_CODE = ("ml_assets.lib.inference_log",)


def build_served_traffic_assets(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """`inference_log`; `served_drift` when the pipeline has monitoring (drift needs no
    labels); `served_performance` when it also has an entity key to join labels on; then
    `ab_test` too for a binary problem (the experiment's test compares ROC AUCs)."""
    assets = [inference_log_asset(config, partitions)]
    if config.monitoring is not None:
        assets.append(served_drift_asset(config, partitions, INFERENCE_LOG))
    key = entity_key(config)
    if config.monitoring is not None and key is not None:
        assets.append(_served_performance(config, partitions))
        if problem_for(config).kind == ProblemKind.BINARY:
            assets.append(ab_test_asset(config, partitions, key))
    return assets


def inference_log_asset(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, INFERENCE_LOG),
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas", "parquet", "bentoml"},
        owners=list(config.owners),
        code_version=code_version(inference_log_asset, config.name, uses=LOG_CODE),
    )
    def inference_log(context: AssetExecutionContext, lake: LakeResource) -> Output[pd.DataFrame]:
        """Every record the champion's service scored for the day, read from the log files
        its workers wrote (one row per record: request id, time served, model version and
        tag, arm, route, latency, the validated inputs as `input_<field>` and the outputs
        as `output_<field>`), in the order served. The inference-log sensor materialises a
        day when its files change; a day without traffic is an empty table."""
        day = context.partition_key
        rows, files = lake.read_inference_log(config.name, day)
        described = summary(rows)
        context.log.info(f"{day}: {described['records']} served record(s) from {files} file(s)")
        metadata: dict[str, Any] = {"files": files, **described}
        for name in ("model_versions", "arms", "routes"):
            if name in metadata:
                metadata[name] = MetadataValue.json(metadata[name])
        return Output(rows, metadata=metadata)

    return inference_log


def _served_performance(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    monitoring = config.monitoring
    key = entity_key(config)
    assert monitoring is not None and key is not None
    policy = monitoring.performance
    validated = validated_key(config.name, config.event_source_name)

    @asset(
        key=model_key(config.name, SERVED_PERFORMANCE),
        ins={"inference_log": AssetIn(model_key(config.name, INFERENCE_LOG))},
        deps=[validated],
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas"},
        owners=list(config.owners),
        code_version=code_version(
            _served_performance,
            key,
            policy.model_dump(mode="json"),
            uses=(*LOG_CODE, "ml_assets.lib.live_performance"),
        ),
    )
    def served_performance(
        context: AssetExecutionContext,
        inference_log: pd.DataFrame,
        lake: LakeResource,
        bento_store: BentoStoreResource,
    ) -> Output[pd.DataFrame]:
        """Live performance of the traffic the service answered: the day's logged records
        joined on the entity key (`serving.entity_key`, else the event source's primary
        key) to the day's validated events, whose labels arrive with the day's data, and
        per model and arm the metrics `live_performance` computes for batch predictions
        (labelled at the model's own decision threshold, next to its test-window score,
        with a verdict). Records whose event has no label yet are counted, not scored;
        until the day is validated the verdict is 'no verdict'."""
        day = context.partition_key
        try:
            events: pd.DataFrame | None = lake.read(list(validated.path), day)
        except FileNotFoundError:
            events = None
        joined = with_labels(inference_log, events, key, config)
        rows = [
            _judged(config, bento_store, day, tag, arm, group, policy)
            for (tag, arm), group in (
                joined.groupby(["model_tag", "arm"], sort=True) if len(joined) else []
            )
        ]
        labelled = int(joined["actual"].notna().sum()) if len(joined) else 0
        where = "not validated yet" if events is None else f"{len(events)} validated event(s)"
        context.log.info(f"{day}: {len(joined)} served, {labelled} labelled ({where})")
        table = pd.DataFrame(rows, columns=_COLUMNS if not rows else None)
        metadata: dict[str, Any] = {
            "served": len(joined),
            "labelled": labelled,
            "entity_key": MetadataValue.json(key),
            "labels": where,
        }
        if rows:
            metadata["by_model"] = MetadataValue.md(
                table[
                    ["model_version", "arm", "served", "labelled", "value", "verdict"]
                ].to_markdown(index=False, floatfmt=".4f")
            )
        return Output(table, metadata=metadata)

    return served_performance


_COLUMNS = [EVENT_DATE, "model_tag", "model_version", "arm", "served", "labelled", "verdict"]


def _judged(
    config: PipelineConfig,
    bento_store: BentoStoreResource,
    day: str,
    tag: Any,
    arm: Any,
    group: pd.DataFrame,
    policy: Any,
) -> dict[str, Any]:
    """One model and arm of the day: its metrics on the labelled records it answered."""
    try:
        bundle = served_metadata(bento_store.bundle_path(str(tag)))
    except Exception as exc:
        raise Failure(
            f"{day}: the log names model {tag}, which the bento store does not hold ({exc})"
        ) from exc
    problem = problem_for(config)
    served = Calibration.from_metadata(bundle)
    if problem.kind == ProblemKind.BINARY:
        served = Calibration(threshold=decision_threshold(bundle, config))
    result = evaluate(
        group["actual"].reset_index(drop=True),
        problem.predictions_of(outputs_of(group)),
        bundle.get("test_metrics", {}),
        policy,
        (problem, served),
    )
    version = str(group["model_version"].iloc[0])
    return {
        EVENT_DATE: day,
        "model_tag": str(tag),
        "model_version": version,
        "arm": str(arm),
        "served": len(group),
        **result.as_row(),
    }

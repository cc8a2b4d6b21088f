"""The running experiment judged on labelled served traffic: `ab_test`, per day and since
the experiment started (A/B unpaired, shadow paired; ml_assets.lib.experiment_evidence)."""

from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.keys import MONITORING_GROUP, code_version, model_key, validated_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.experiment_evidence import EVIDENCE_COLUMNS, evidence, experiment_id, judge
from ml_assets.lib.experiment_record import ExperimentRecord, read_current
from ml_assets.lib.inference_log import with_labels
from resources.lake import LakeResource

AB_TEST = "ab_test"


def ab_test_asset(
    config: PipelineConfig, partitions: PartitionsDefinition, key: list[str]
) -> AssetsDefinition:
    """`ab_test` of a binary pipeline whose served traffic joins its labels on `key`."""
    validated = validated_key(config.name, config.event_source_name)
    own = model_key(config.name, AB_TEST)

    @asset(
        key=own,
        ins={"inference_log": AssetIn(model_key(config.name, "inference_log"))},
        deps=[validated],
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas", "parquet"},
        owners=list(config.owners),
        code_version=code_version(
            ab_test_asset,
            key,
            uses=(
                "ml_assets.lib.experiment_evidence",
                "ml_assets.lib.experiment_stats",
                "ml_assets.lib.inference_log",
            ),
        ),
    )
    def ab_test(
        context: AssetExecutionContext, inference_log: pd.DataFrame, lake: LakeResource
    ) -> Output[pd.DataFrame]:
        """The running experiment (`mlap experiment start`) on the day's served traffic whose
        labels have arrived: the day's logged records joined on the entity key to the day's
        validated events, kept when one of the experiment's two models scored them since it
        started (A/B: each arm its own entities; shadow: both models on the same records).
        The table holds that day's labelled records; the metadata judges the day alone and
        the experiment so far (every earlier day of this asset for the same experiment):
        both arms' ROC AUC, the test (unpaired DeLong for A/B, paired for shadow), its
        p-value at the configured confidence, the verdict and the labelled records per arm
        still needed. The experiment sensor concludes the experiment from the latest
        verdict. With no experiment running, the table is empty and says so."""
        day = context.partition_key
        record = read_current(lake.base_path, config.name)
        if record is None:
            context.log.info(f"{day}: no experiment runs for {config.name}")
            empty = pd.DataFrame(columns=EVIDENCE_COLUMNS)
            return Output(empty, metadata={"experiment": "none", "verdict": "no experiment"})
        try:
            events: pd.DataFrame | None = lake.read(list(validated.path), day)
        except FileNotFoundError:
            events = None
        joined = with_labels(inference_log, events, key, config)
        today = evidence(joined, record)
        frames = [*_earlier(lake, list(own.path), day, record), today]
        so_far = pd.concat(frames, ignore_index=True)
        per_day, day_result, day_reason = judge(today, record)
        per_arm, result, reason = judge(so_far, record)
        context.log.info(f"{day}: {experiment_id(record)}: {reason}")
        metadata: dict[str, Any] = {
            "experiment": experiment_id(record),
            "mode": record.mode,
            "champion_version": record.champion_version,
            "challenger_version": record.challenger_version,
            "labels": "not validated yet" if events is None else f"{len(events)} event(s)",
            "day": MetadataValue.md(_table(per_day, day_result, day_reason)),
            "cumulative": MetadataValue.md(_table(per_arm, result, reason)),
            "reason": reason,
            "verdict": result.verdict if result else "no test",
        }
        if result is not None:
            metadata |= {
                "auc_champion": result.auc_champion,
                "auc_challenger": result.auc_challenger,
                "p_value": result.p_value,
                "z": result.z,
                "confidence": result.confidence,
                "min_samples": record.min_samples,
                # -1: no sample size will show a difference (none observed)
                "samples_needed": -1 if result.samples_needed is None else result.samples_needed,
                "result": MetadataValue.json(result.as_row()),
            }
        return Output(today[EVIDENCE_COLUMNS], metadata=metadata)

    return ab_test


def _earlier(
    lake: LakeResource, path: list[str], day: str, record: ExperimentRecord
) -> list[pd.DataFrame]:
    """This asset's stored days before `day` for the same experiment (the log's days tell
    which days may hold some)."""
    found = []
    for earlier in sorted(lake.inference_log_days(record.pipeline)):
        if earlier >= day:
            continue
        try:
            rows = lake.read(path, earlier)
        except FileNotFoundError:
            continue
        found.append(rows[rows["experiment"] == experiment_id(record)])
    return found


def _table(per_arm: pd.DataFrame, result: Any, reason: str) -> str:
    table = per_arm.copy()
    if result is not None:
        table["auc"] = [result.auc_champion, result.auc_challenger]
    return f"{table.to_markdown(index=False, floatfmt='.4f')}\n\n{reason}"

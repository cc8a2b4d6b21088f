"""The champion's daily live performance: its metrics on the day's labelled events next
to its test-window score, with a partitioned check."""

from collections.abc import Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.assets.monitoring_days import day_inputs, judged_version, severity
from ml_assets.keys import MONITORING_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.live_performance import LivePerformance, evaluate
from ml_assets.lib.problems import Calibration, ProblemKind, problem_for
from ml_assets.lib.refs import BentoRef
from ml_assets.lib.scoring import decision_threshold
from ml_assets.lifecycle.served_bundle import served_metadata
from resources.bento_store import BentoStoreResource

PERFORMANCE = "performance_within_tolerance"


def live_performance_asset(
    config: PipelineConfig, partitions: PartitionsDefinition, column: str
) -> AssetsDefinition:
    """The `live_performance` asset of `partitions`, the partition named in `column`."""
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.performance
    key = model_key(config.name, "live_performance")

    @asset(
        key=key,
        ins=day_inputs(config),
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas"},
        owners=list(config.owners),
        code_version=code_version(
            live_performance_asset,
            policy.model_dump(mode="json"),
            uses=(
                "ml_assets.assets.live_monitoring",
                "ml_assets.assets.monitoring_days",
                "ml_assets.lib.live_performance",
            ),
        ),
        check_specs=[
            AssetCheckSpec(
                PERFORMANCE,
                asset=key,
                description="The day's score is within tolerance of the test-window score.",
                partitions_def=partitions,
            )
        ],
    )
    def live_performance(
        context: AssetExecutionContext,
        batch_predictions: pd.DataFrame,
        champion_bento: BentoRef,
        bento_store: BentoStoreResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        """The champion's metrics on the day's events whose labels are known (labelled at
        its own decision threshold), next to its score on the test window it was chosen
        on: the drop, and a verdict (a warning or an error past the configured drops).
        Days with too few labels or a single class get 'no verdict' with the reason."""
        day = context.partition_key
        version = judged_version(day, batch_predictions, champion_bento)
        bundle = served_metadata(bento_store.bundle_path(champion_bento.model_tag))
        problem = problem_for(config)
        served = Calibration.from_metadata(bundle)
        if problem.kind == ProblemKind.BINARY:
            served = Calibration(threshold=decision_threshold(bundle, config))
        result = evaluate(
            batch_predictions["actual"],
            problem.predictions_of(batch_predictions),
            bundle.get("test_metrics", {}),
            policy,
            (problem, served),
        )
        row = {column: day, "model_version": version, **result.as_row()}
        context.log.info(f"{day} v{version}: {result.verdict}: {result.reason}")
        shown: dict[str, Any] = {k: v for k, v in row.items() if v is not None and k != column}
        yield Output(pd.DataFrame([row]), metadata=shown)
        yield _performance_check(result, version)

    return live_performance


def _performance_check(result: LivePerformance, version: str) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=PERFORMANCE,
        passed=result.verdict in ("ok", "no_verdict"),
        severity=severity(result.verdict),
        description=("no verdict: " if result.verdict == "no_verdict" else "") + result.reason,
        metadata={
            "model_version": version,
            "verdict": result.verdict,
            "labelled": result.labelled,
        },
    )

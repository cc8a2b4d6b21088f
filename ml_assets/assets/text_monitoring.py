"""Daily monitoring of a text pipeline's champion: each day's texts scored, their drift
against the champion's examples (embeddings, length, unknown words, predicted classes) and
the champion's live performance where the day's labels are known, with partitioned checks.

The champion is the one the decision log names (`text_champion`); `text_reference`
calibrates its drift thresholds on its own held-out example days once per champion
(`ml_assets.lib.text.monitoring`), and every day is judged against that champion only.
"""

from typing import Any

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.assets.monitoring_days import severity
from ml_assets.assets.text_scoring import (
    USES,
    build_text_predictions,
    build_text_reference,
    champion_scorer,
    reference_of,
    require_same_champion,
)
from ml_assets.keys import MONITORING_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.text.monitoring import TextReference, text_drift
from resources.bento_store import BentoStoreResource
from resources.model_registry import ModelRegistryResource

# The monitoring assets of a text pipeline's daily job.
TEXT_DAILY = ("text_predictions", "text_drift", "text_live_performance")
DRIFT_CHECK = "text_drift_within_threshold"
PERFORMANCE_CHECK = "performance_within_tolerance"


def build_text_monitoring_assets(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    return [
        build_text_reference(config),
        build_text_predictions(config, partitions),
        _text_drift(config, partitions),
        _text_live_performance(config, partitions),
    ]


def _text_drift(config: PipelineConfig, partitions: PartitionsDefinition) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None
    key = model_key(config.name, "text_drift")

    @asset(
        key=key,
        ins={
            "text_predictions": AssetIn(model_key(config.name, "text_predictions")),
            "text_reference": AssetIn(model_key(config.name, "text_reference")),
        },
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas", "evidently"},
        owners=list(config.owners),
        code_version=code_version(_text_drift, monitoring.drift.model_dump(mode="json"), uses=USES),
        check_specs=[
            AssetCheckSpec(
                DRIFT_CHECK,
                asset=key,
                description="The share of drifted text signals stays under the warning "
                "share (warn) and the error share (error).",
            )
        ],
    )
    def text_drift_asset(
        context: AssetExecutionContext,
        text_predictions: pd.DataFrame,
        text_reference: pd.DataFrame,
        model_registry: ModelRegistryResource,
        bento_store: BentoStoreResource,
    ) -> Any:
        """The day's texts against the champion's examples: one row per signal
        (embeddings by Evidently's domain classifier, text length, unknown-word share,
        predicted class) with its method, score, threshold and whether it drifted; the
        check fails when the drifted share reaches the warning or error share."""
        from ml_assets.lib.text.encoders import encode_checked

        day = context.partition_key
        scorer = champion_scorer(config, model_registry, bento_store)
        tags = set(text_reference["model_tag"].astype(str))
        if tags != {scorer.model_tag}:
            raise Failure(
                f"text_reference is of {', '.join(sorted(tags))}, the champion is "
                f"{scorer.model_tag}: materialise text_reference again first"
            )
        require_same_champion(day, text_predictions, scorer.model_tag)
        reference = with_thresholds(reference_of(scorer), text_reference)
        texts = text_predictions["text"].astype(str).tolist()
        vectors = encode_checked(scorer.encoder, texts) if texts else np.empty((0, 0))
        drift = text_drift(
            reference, texts, vectors, text_predictions["label"].tolist(), monitoring.drift
        )
        table = drift.signals.assign(day=day, model_tag=scorer.model_tag)
        passed = drift.verdict in ("ok", "no_verdict")
        yield Output(
            table,
            metadata={
                "verdict": drift.verdict,
                "reason": drift.reason,
                "drifted_share": drift.drifted_share,
                "texts": len(texts),
                "model_tag": scorer.model_tag,
                # The registered version judged (what the retraining sensor weighs).
                "model_version": scorer.model_version,
            },
        )
        yield AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=passed,
            severity=severity(drift.verdict),
            description=drift.reason,
            metadata={"verdict": drift.verdict, "drifted_share": drift.drifted_share},
        )

    return text_drift_asset


def with_thresholds(reference: TextReference, table: pd.DataFrame) -> TextReference:
    """`reference` with the thresholds `text_reference` calibrated."""
    calibrated = table[table["source"] == "calibrated"]
    thresholds = dict(zip(calibrated["signal"], calibrated["threshold"].astype(float), strict=True))
    return TextReference(reference.vocabulary, reference.signals, reference.embeddings, thresholds)


def _text_live_performance(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.performance
    key = model_key(config.name, "text_live_performance")

    @asset(
        key=key,
        ins={"text_predictions": AssetIn(model_key(config.name, "text_predictions"))},
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas"},
        owners=list(config.owners),
        code_version=code_version(
            _text_live_performance, policy.model_dump(mode="json"), uses=USES
        ),
        check_specs=[
            AssetCheckSpec(
                PERFORMANCE_CHECK,
                asset=key,
                description="The champion's metric on the day's labelled texts stays within "
                "drop_warn (warn) and drop_error (error) of its test-window score.",
            )
        ],
    )
    def text_live_performance(
        context: AssetExecutionContext,
        text_predictions: pd.DataFrame,
        model_registry: ModelRegistryResource,
        bento_store: BentoStoreResource,
    ) -> Any:
        """The champion's metrics on the day's labelled texts next to its test-window
        score (`monitoring.performance`: the metric, the drops that warn and err, the
        fewest labelled rows for a verdict)."""
        from ml_assets.lib.live_performance import evaluate
        from ml_assets.lib.problems import Calibration, problem_for

        scorer = champion_scorer(config, model_registry, bento_store)
        require_same_champion(context.partition_key, text_predictions, scorer.model_tag)
        problem = problem_for(config)
        columns = [f"probability[{c}]" for c in problem.classes]
        judged = evaluate(
            text_predictions["actual"],
            text_predictions[columns].to_numpy(dtype="float64"),
            scorer.document.get("test_metrics") or {},
            policy,
            (problem, Calibration()),
        )
        row = judged.as_row() | {"day": context.partition_key, "model_tag": scorer.model_tag}
        passed = judged.verdict in ("ok", "no_verdict")
        yield Output(
            pd.DataFrame([row]),
            metadata={
                "verdict": judged.verdict,
                "reason": judged.reason,
                "value": judged.value,
                "model_version": scorer.model_version,
            },
        )
        yield AssetCheckResult(
            check_name=PERFORMANCE_CHECK,
            passed=passed,
            severity=severity(judged.verdict),
            description=judged.reason,
            metadata={"verdict": judged.verdict},
        )

    return text_live_performance

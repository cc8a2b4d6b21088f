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
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.assets.monitoring_days import severity
from ml_assets.assets.text_examples import text_settings
from ml_assets.keys import MONITORING_GROUP, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.text.bundle import TextScorer
from ml_assets.lib.text.monitoring import TextReference, text_drift, text_reference
from resources.audit_store import AuditStoreResource
from resources.bento_store import BentoStoreResource

# The monitoring assets of a text pipeline's daily job.
TEXT_DAILY = ("text_predictions", "text_drift", "text_live_performance")
DRIFT_CHECK = "text_drift_within_threshold"
PERFORMANCE_CHECK = "performance_within_tolerance"
USES = (
    "ml_assets.assets.text_monitoring",
    "ml_assets.lib.text.monitoring",
    "ml_assets.lib.text.bundle",
    "ml_assets.lib.live_performance",
)


def build_text_monitoring_assets(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    return [
        _text_reference(config),
        _text_predictions(config, partitions),
        _text_drift(config, partitions),
        _text_live_performance(config, partitions),
    ]


def champion_scorer(
    config: PipelineConfig, audit_store: AuditStoreResource, bento_store: BentoStoreResource
) -> TextScorer:
    """The current text champion's verified bundle (the decision log names it)."""
    from ml_assets.lifecycle.text_promotion import current_text_champion

    tag = current_text_champion(audit_store, config.name).get("model_tag")
    if not tag or not bento_store.has_model(tag):
        raise Failure(f"{config.name} has no text champion yet: run its training first")
    return TextScorer.from_bundle(bento_store.bundle_path(tag), model_tag=tag)


def reference_of(scorer: TextScorer) -> TextReference:
    """The champion's uncalibrated drift reference: its examples, their stored vectors and
    its own predicted class of each."""
    predicted = scorer.classes_of(scorer.examples["text"].astype(str).tolist(), scorer.embeddings)
    examples = scorer.examples.rename(columns={EVENT_DATE: "day"})
    return text_reference(examples, scorer.embeddings, predicted)


def _text_reference(config: PipelineConfig) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None

    @asset(
        key=model_key(config.name, "text_reference"),
        ins={"champion": AssetIn(model_key(config.name, "text_champion"))},
        group_name=MONITORING_GROUP,
        kinds={"pandas", "evidently"},
        owners=list(config.owners),
        code_version=code_version(
            _text_reference, monitoring.drift.model_dump(mode="json"), uses=USES
        ),
    )
    def text_reference_asset(
        context: AssetExecutionContext,
        champion: Any,
        audit_store: AuditStoreResource,
        bento_store: BentoStoreResource,
    ) -> Output[pd.DataFrame]:
        """The drift rule of each signal for the current text champion: its method and
        threshold, calibrated on the champion's held-out example days (the quantile of
        whole days' scores against the other held-out days) unless configured. Metadata:
        the champion, the days calibrated on, the vocabulary's size."""
        scorer = champion_scorer(config, audit_store, bento_store)
        reference = reference_of(scorer).calibrated(monitoring.drift)
        table = reference.table(monitoring.drift).assign(model_tag=scorer.model_tag)
        context.log.info(f"text drift reference: {reference.calibrated_days} days calibrated")
        return Output(
            table,
            metadata={
                "model_tag": scorer.model_tag,
                "calibrated_days": reference.calibrated_days,
                "held_out_examples": len(reference.signals),
                "vocabulary_words": len(reference.vocabulary),
                "rules": MetadataValue.md(table.to_markdown(index=False)),
            },
        )

    return text_reference_asset


def _text_predictions(config: PipelineConfig, partitions: PartitionsDefinition) -> AssetsDefinition:
    target, text = text_settings(config)
    ids = list(config.event_source.primary_key)

    @asset(
        key=model_key(config.name, "text_predictions"),
        ins={"features": AssetIn(features_key(config.name))},
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas", "scikit-learn"},
        owners=list(config.owners),
        code_version=code_version(_text_predictions, target.model_dump(mode="json"), uses=USES),
    )
    def text_predictions(
        context: AssetExecutionContext,
        features: pd.DataFrame,
        audit_store: AuditStoreResource,
        bento_store: BentoStoreResource,
    ) -> Output[pd.DataFrame]:
        """The day's texts scored by the text champion: the ids, the text, its known class
        (`actual`, empty when unlabelled), the predicted `label`, its probability and every
        class's, the model version and tag. Texts shorter than `text.min_chars` once
        trimmed are not scored; they are counted in the metadata."""
        from ml_assets.lib.text.examples import normalise

        scorer = champion_scorer(config, audit_store, bento_store)
        texts = normalise(features[target.text_column]).fillna("")
        scored = (texts.str.len() >= max(text.min_chars, 1)).to_numpy()
        rows = features[scored].reset_index(drop=True)
        kept = texts[scored].tolist()
        answers = scorer.predict(kept) if kept else []
        frame = rows[[c for c in ids if c in rows.columns]].copy()
        frame["text"] = kept
        frame["actual"] = rows[target.name].astype("string").to_numpy()
        frame["label"] = [a["label"] for a in answers]
        frame["probability"] = [a["probability"] for a in answers]
        for name in scorer.classes:
            frame[f"probability[{name}]"] = [a["probabilities"][name] for a in answers]
        frame["model_version"] = scorer.model_version
        frame["model_tag"] = scorer.model_tag
        return Output(
            frame,
            metadata={
                "dagster/row_count": len(frame),
                "unscored_texts": int((~scored).sum()),
                "model_tag": scorer.model_tag,
                "labelled": int(frame["actual"].notna().sum()),
            },
        )

    return text_predictions


def _judged(day: str, predictions: pd.DataFrame, tag: str) -> None:
    made_by = set(predictions["model_tag"].dropna().astype(str))
    if made_by - {tag}:
        raise Failure(
            f"{day}: texts were scored by {', '.join(sorted(made_by))} but the reference is "
            f"of {tag}: materialise text_predictions for {day} again first"
        )


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
        audit_store: AuditStoreResource,
        bento_store: BentoStoreResource,
    ) -> Any:
        """The day's texts against the champion's examples: one row per signal
        (embeddings by Evidently's domain classifier, text length, unknown-word share,
        predicted class) with its method, score, threshold and whether it drifted; the
        check fails when the drifted share reaches the warning or error share."""
        from ml_assets.lib.text.encoders import encode_checked

        day = context.partition_key
        scorer = champion_scorer(config, audit_store, bento_store)
        tags = set(text_reference["model_tag"].astype(str))
        if tags != {scorer.model_tag}:
            raise Failure(
                f"text_reference is of {', '.join(sorted(tags))}, the champion is "
                f"{scorer.model_tag}: materialise text_reference again first"
            )
        _judged(day, text_predictions, scorer.model_tag)
        reference = _with_thresholds(reference_of(scorer), text_reference)
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


def _with_thresholds(reference: TextReference, table: pd.DataFrame) -> TextReference:
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
        audit_store: AuditStoreResource,
        bento_store: BentoStoreResource,
    ) -> Any:
        """The champion's metrics on the day's labelled texts next to its test-window
        score (`monitoring.performance`: the metric, the drops that warn and err, the
        fewest labelled rows for a verdict)."""
        from ml_assets.lib.live_performance import evaluate
        from ml_assets.lib.problems import Calibration, problem_for

        scorer = champion_scorer(config, audit_store, bento_store)
        _judged(context.partition_key, text_predictions, scorer.model_tag)
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
            metadata={"verdict": judged.verdict, "reason": judged.reason, "value": judged.value},
        )
        yield AssetCheckResult(
            check_name=PERFORMANCE_CHECK,
            passed=passed,
            severity=severity(judged.verdict),
            description=judged.reason,
            metadata={"verdict": judged.verdict},
        )

    return text_live_performance

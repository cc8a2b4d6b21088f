"""A text pipeline's champion as its daily monitoring reads it: the current text champion
(the registry's `champion` alias names it), its drift reference (`text_reference`,
thresholds calibrated once per champion) and each day's texts scored by it
(`text_predictions`)."""

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

from ml_assets.assets.text_examples import text_settings
from ml_assets.keys import (
    MONITORING_GROUP,
    code_version,
    features_key,
    llm_resource_key,
    model_key,
)
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.text.bundle import TextScorer
from ml_assets.lib.text.llm_bundle import uses_llm
from ml_assets.lib.text.monitoring import TextReference, text_reference
from resources.bento_store import BentoStoreResource
from resources.model_registry import ModelRegistryResource

USES = (
    "ml_assets.assets.text_monitoring",
    "ml_assets.lib.text.llm",
    "ml_assets.lib.text.llm_bundle",
    "ml_assets.assets.text_scoring",
    "ml_assets.lib.text.monitoring",
    "ml_assets.lib.text.bundle",
    "ml_assets.lib.live_performance",
)


def champion_scorer(
    config: PipelineConfig,
    registry: ModelRegistryResource,
    bento_store: BentoStoreResource,
    api_key: str | None = None,
) -> TextScorer:
    """The registry's text champion, its verified bundle loaded (an LLM champion with
    `api_key`, which only scoring needs)."""
    from ml_assets.lifecycle.text_promotion import text_champion

    current = text_champion(registry, bento_store, config.name)
    if current is None:
        raise Failure(f"{config.name} has no text champion yet: run its training first")
    tag = current[1]
    return TextScorer.from_bundle(bento_store.bundle_path(tag), model_tag=tag, api_key=api_key)


def reference_of(scorer: TextScorer) -> TextReference:
    """The champion's uncalibrated drift reference: its examples, their stored vectors and
    its own predicted class of each."""
    predicted = scorer.reference_classes()
    examples = scorer.examples.rename(columns={EVENT_DATE: "day"})
    return text_reference(examples, scorer.embeddings, predicted)


def build_text_reference(config: PipelineConfig) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None

    @asset(
        key=model_key(config.name, "text_reference"),
        ins={"champion": AssetIn(model_key(config.name, "text_champion"))},
        group_name=MONITORING_GROUP,
        kinds={"pandas", "evidently"},
        owners=list(config.owners),
        code_version=code_version(
            build_text_reference, monitoring.drift.model_dump(mode="json"), uses=USES
        ),
    )
    def text_reference_asset(
        context: AssetExecutionContext,
        champion: Any,
        model_registry: ModelRegistryResource,
        bento_store: BentoStoreResource,
    ) -> Output[pd.DataFrame]:
        """The drift rule of each signal for the current text champion: its method and
        threshold, calibrated on the champion's held-out example days (the quantile of
        whole days' scores against the other held-out days) unless configured. Metadata:
        the champion, the days calibrated on, the vocabulary's size."""
        scorer = champion_scorer(config, model_registry, bento_store)
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


def build_text_predictions(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    target, text = text_settings(config)
    ids = list(config.event_source.primary_key)
    # An LLM champion scores with the pipeline's own key resource, required by key (its
    # name names the pipeline); Dagster then wants every resource by key.
    asks_llm = uses_llm(config)
    llm_key = llm_resource_key(config.name)
    resource_keys = {"model_registry", "bento_store"} | ({llm_key} if asks_llm else set())

    @asset(
        key=model_key(config.name, "text_predictions"),
        ins={"features": AssetIn(features_key(config.name))},
        required_resource_keys=resource_keys,
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas", "scikit-learn"},
        owners=list(config.owners),
        code_version=code_version(
            build_text_predictions, target.model_dump(mode="json"), uses=USES
        ),
    )
    def text_predictions(
        context: AssetExecutionContext, features: pd.DataFrame
    ) -> Output[pd.DataFrame]:
        """The day's texts scored by the text champion: the ids, the text, its known class
        (`actual`, empty when unlabelled), the predicted `label`, its probability and every
        class's, the model version and tag. Texts shorter than `text.min_chars` once
        trimmed are not scored; they are counted in the metadata. An LLM champion asks
        its endpoint (with the pipeline's key) for each text; a failed exchange or an
        answer that is not one label fails the day, naming it: no label is made up."""
        from ml_assets.lib.text.examples import normalise
        from ml_assets.lib.text.llm import LlmError, MissingApiKeyError

        model_registry: ModelRegistryResource = context.resources.model_registry
        bento_store: BentoStoreResource = context.resources.bento_store
        api_key = getattr(context.resources, llm_key).api_key if asks_llm else None
        scorer = champion_scorer(config, model_registry, bento_store, api_key)
        texts = normalise(features[target.text_column]).fillna("")
        scored = (texts.str.len() >= max(text.min_chars, 1)).to_numpy()
        rows = features[scored].reset_index(drop=True)
        kept = texts[scored].tolist()
        try:
            answers = scorer.predict(kept) if kept else []
        except (LlmError, MissingApiKeyError) as exc:
            raise Failure(f"{context.partition_key}: the LLM champion failed: {exc}") from exc
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


def require_same_champion(day: str, predictions: pd.DataFrame, tag: str) -> None:
    made_by = set(predictions["model_tag"].dropna().astype(str))
    if made_by - {tag}:
        raise Failure(
            f"{day}: texts were scored by {', '.join(sorted(made_by))} but the reference is "
            f"of {tag}: materialise text_predictions for {day} again first"
        )

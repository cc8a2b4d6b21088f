"""What a text pipeline's service answered, as assets: the day's inference log and its drift.

The text service writes the tabular service's log files (`ml_assets.lib.text.served_log`),
so `inference_log` is the same asset, started by the same sensor. `served_drift` judges
the texts clients sent, and the labels the service answered, with the four signals and the
rule of the daily `text_drift` (`ml_assets.lib.text.monitoring`), per model in the log:
the current champion by the thresholds `text_reference` calibrated for it; a model
that served part of the day and is no longer champion, by thresholds calibrated here
on its own held-out examples in the same way. Served texts need no labels, so a day is
judged as soon as its log lands. Requests carry no labels or ids to join on, so there is
no served performance: the daily `text_live_performance` judges the day's labelled texts.
"""

from collections.abc import Iterator
from typing import Any

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
from ml_assets.assets.served_drift import SERVED_DRIFT
from ml_assets.assets.served_traffic import INFERENCE_LOG, inference_log_asset
from ml_assets.assets.text_monitoring import DRIFT_CHECK, with_thresholds
from ml_assets.assets.text_scoring import USES, reference_of
from ml_assets.keys import MONITORING_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.monitoring import DriftConfig
from ml_assets.lib.inference_log import INPUT, OUTPUT
from ml_assets.lib.text.bundle import TextScorer
from ml_assets.lib.text.monitoring import TextDrift, text_drift
from resources.bento_store import BentoStoreResource

# Worst last: the day's verdict is its worst model's.
_VERDICTS = ("no_verdict", "ok", "warn", "error")
_SIGNALS = ["signal", "method", "score", "threshold", "drifted"]


def build_text_served_assets(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """`inference_log`, and `served_drift` when the pipeline has monitoring."""
    assets = [inference_log_asset(config, partitions)]
    if config.monitoring is not None:
        assets.append(_text_served_drift(config, partitions))
    return assets


def _text_served_drift(
    config: PipelineConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.drift
    key = model_key(config.name, SERVED_DRIFT)

    @asset(
        key=key,
        ins={
            "inference_log": AssetIn(model_key(config.name, INFERENCE_LOG)),
            "text_reference": AssetIn(model_key(config.name, "text_reference")),
        },
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas", "evidently"},
        owners=list(config.owners),
        code_version=code_version(
            _text_served_drift,
            policy.model_dump(mode="json"),
            uses=(*USES, "ml_assets.assets.text_served", "ml_assets.lib.inference_log"),
        ),
        check_specs=[
            AssetCheckSpec(
                DRIFT_CHECK,
                asset=key,
                description="For every model that served the day, the share of drifted "
                "text signals stays under the warning share (warn) and the error share "
                "(error).",
            )
        ],
    )
    def served_drift(
        context: AssetExecutionContext,
        inference_log: pd.DataFrame,
        text_reference: pd.DataFrame,
        bento_store: BentoStoreResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        """Drift of the texts the service answered for the day, per model: one row per
        signal (embeddings, text length, unknown-word share, the answered label) with its
        method, score, threshold and whether it drifted, as `text_drift` judges the day's
        texts. The champion is judged by `text_reference`'s thresholds, an earlier model
        by its own, calibrated here. A day without traffic is an empty table with no
        verdict; the check fails when any model's verdict warns or errs, and says which."""
        day = context.partition_key
        tables: list[pd.DataFrame] = []
        judged: list[dict[str, Any]] = []
        groups: Any = inference_log.groupby("model_tag", sort=True)
        for tag, group in groups if len(inference_log) else []:
            scorer = _scorer_of(day, str(tag), bento_store)
            drift, thresholds = _judge(scorer, group, text_reference, policy)
            version = str(group["model_version"].iloc[0])
            context.log.info(f"{day} v{version}: {drift.verdict}: {drift.reason}")
            judged.append(
                {
                    "model_version": version,
                    "model_tag": str(tag),
                    "texts": len(group),
                    "thresholds": thresholds,
                    "verdict": drift.verdict,
                    "drifted_share": drift.drifted_share,
                    "reason": drift.reason,
                }
            )
            tables.append(
                drift.signals.assign(
                    day=day, model_tag=str(tag), model_version=version, texts=len(group)
                )
            )
        table = (
            pd.concat(tables, ignore_index=True)
            if tables
            else pd.DataFrame(columns=[*_SIGNALS, "day", "model_tag", "model_version", "texts"])
        )
        verdict = max((j["verdict"] for j in judged), key=_VERDICTS.index, default="no_verdict")
        reason = "; ".join(f"v{j['model_version']}: {j['reason']}" for j in judged)
        yield Output(
            table,
            metadata={
                "verdict": verdict,
                "texts": len(inference_log),
                "models": MetadataValue.md(pd.DataFrame(judged).to_markdown(index=False))
                if judged
                else "no traffic",
            },
        )
        yield AssetCheckResult(
            check_name=DRIFT_CHECK,
            passed=verdict in ("ok", "no_verdict"),
            severity=severity(verdict),
            description=reason or "no traffic",
            metadata={"verdict": verdict},
        )

    return served_drift


def _scorer_of(day: str, tag: str, bento_store: BentoStoreResource) -> TextScorer:
    """The text model `tag` as it was packaged (no LLM key: drift asks no endpoint)."""
    try:
        return TextScorer.from_bundle(bento_store.bundle_path(tag), model_tag=tag)
    except Exception as exc:
        raise Failure(
            f"{day}: the log names model {tag}, which the bento store does not hold ({exc})"
        ) from exc


def _judge(
    scorer: TextScorer, log: pd.DataFrame, text_reference: pd.DataFrame, policy: DriftConfig
) -> tuple[TextDrift, str]:
    """The drift of `log`'s texts and answered labels for the model that served them, and
    where its thresholds came from."""
    from ml_assets.lib.text.encoders import encode_checked

    mine = text_reference[text_reference["model_tag"].astype(str) == scorer.model_tag]
    if len(mine):
        reference, source = with_thresholds(reference_of(scorer), mine), "text_reference"
    else:
        reference, source = reference_of(scorer).calibrated(policy), "calibrated here"
    texts = log[f"{INPUT}text"].astype(str).tolist()
    labels = log[f"{OUTPUT}label"].astype(str).tolist()
    vectors = encode_checked(scorer.encoder, texts)
    return text_drift(reference, texts, vectors, labels, policy), source

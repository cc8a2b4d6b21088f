"""Drift of what the service answered: the day's inference log judged like `drift_report`
judges the champion's batch predictions.

A separate asset, not `drift_report` fed from the log: `drift_report` judges every event
of the day (the data the platform received, whatever was asked of the service) and the
retraining sensor counts its days; the served traffic is what clients asked for, may be a
part of the day or hold two models (a shadow or A/B challenger, each with its own
reference profile), and is known as soon as the log lands, before the day's data does.
Both use the same comparison (`ml_assets.lib.drift.compare`), thresholds and references,
so on the same rows they give the same verdicts and scores.
"""

from collections.abc import Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
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

from ml_assets.assets.drift_monitoring import (
    DRIFT_CHECKS,
    DRIFT_CODE,
    drift_check_specs,
    drift_checks,
    reference_of,
)
from ml_assets.assets.monitoring_days import drift_kinds
from ml_assets.keys import MONITORING_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.drift import DriftResult, compare, prediction_of
from ml_assets.lib.features import EVENT_DATE
from ml_assets.lib.problems import problem_for
from ml_assets.lib.served_drift import served_rows
from ml_assets.lifecycle.served_bundle import served_calibration
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource

SERVED_DRIFT = "served_drift"
_JUDGED = ["model_version", "arm", "rows", "verdict", "drifted_share", "prediction_score"]


def served_drift_asset(
    config: PipelineConfig, partitions: PartitionsDefinition, inference_log: str
) -> AssetsDefinition:
    """The `served_drift` asset of a pipeline with monitoring, read from `inference_log`."""
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.drift
    kinds = drift_kinds(config)
    key = model_key(config.name, SERVED_DRIFT)

    @asset(
        key=key,
        ins={"inference_log": AssetIn(model_key(config.name, inference_log))},
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"evidently", "pandas"},
        owners=list(config.owners),
        code_version=code_version(
            served_drift_asset,
            policy.model_dump(mode="json"),
            uses=(
                *DRIFT_CODE,
                "ml_assets.assets.served_drift",
                "ml_assets.lib.served_drift",
                "ml_assets.lib.inference_log",
            ),
        ),
        check_specs=drift_check_specs(key, partitions),
    )
    def served_drift(
        context: AssetExecutionContext,
        inference_log: pd.DataFrame,
        lake: LakeResource,
        bento_store: BentoStoreResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        """Drift of the traffic the service answered for the day, per model and arm: the
        logged records' features (computed from their logged inputs by that model's own
        scorer) and the predictions it returned, against the reference profile packaged
        with that model, by the test, thresholds and shares `drift_report` uses (one
        table row per column, as in `drift_report`). Needs no labels, so it is judged as
        soon as the log lands. A day without traffic is an empty table with no verdict.
        The checks are `drift_report`'s, over every model and arm of the day: one fails
        when it fails for any of them, and says for which."""
        day = context.partition_key
        problem = problem_for(config)
        tables, judged, checks = [], [], []
        groups: Any = inference_log.groupby(["model_tag", "arm"], sort=True)
        for (tag, arm), group in groups if len(inference_log) else []:
            version = str(group["model_version"].iloc[0])
            try:
                bundle = bento_store.bundle_path(str(tag))
                scorer = bento_store.scorer(str(tag))
            except Exception as exc:
                raise Failure(
                    f"{day}: the log names model {tag}, which the bento store does not hold ({exc})"
                ) from exc
            result = compare(
                served_rows(group, scorer, problem.drift_column),
                reference_of(bundle),
                kinds,
                policy,
                with_html=policy.save_html,
                calibration=served_calibration(bundle),
                prediction=prediction_of(problem),
            )
            context.log.info(f"{day} v{version} ({arm}): {result.verdict}: {result.reason}")
            row = _judged(version, str(arm), result)
            if result.html:
                name = f"{day}-v{version}-{arm}.html"
                row["html_report"] = lake.write_report(
                    [config.name, "served_drift_html"], name, result.html
                )
            judged.append(row)
            checks.append((f"v{version} ({arm})", list(drift_checks(result, version))))
            tables.append(
                result.table().assign(
                    **{
                        EVENT_DATE: day,
                        "model_tag": str(tag),
                        "model_version": version,
                        "arm": str(arm),
                    }
                )
            )
        table = pd.concat(tables, ignore_index=True) if tables else _empty()
        yield Output(table, metadata=_metadata(len(inference_log), judged))
        yield from _served_checks(checks)

    return served_drift


def _served_checks(
    judged: list[tuple[str, list[AssetCheckResult]]],
) -> Iterator[AssetCheckResult]:
    """Each of `drift_report`'s checks over the day's models and arms (`judged`: a label
    and that model's check results): passed when it passed for every one, at the gravest
    severity of those that failed; a day without traffic passes with no verdict."""
    for at, name in enumerate(DRIFT_CHECKS):
        found = [(label, results[at]) for label, results in judged]
        failed = [result for _, result in found if not result.passed]
        graver = [r.severity for r in failed if r.severity == AssetCheckSeverity.ERROR]
        yield AssetCheckResult(
            check_name=name,
            passed=not failed,
            severity=graver[0] if graver else AssetCheckSeverity.WARN,
            description="; ".join(f"{label}: {r.description}" for label, r in found)
            or "no verdict: no served records for the day",
            metadata={
                "judged": MetadataValue.json(
                    [
                        {"model": label, "passed": r.passed, **_plain(r.metadata)}
                        for label, r in found
                    ]
                )
            },
        )


def _plain(metadata: Any) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


def _judged(version: str, arm: str, result: DriftResult) -> dict[str, Any]:
    return {
        "model_version": version,
        "arm": arm,
        "rows": result.rows,
        "verdict": result.verdict,
        "drifted_share": round(result.share, 4),
        "drifted_columns": result.drifted_columns,
        "prediction_score": result.prediction.score if result.prediction else None,
        "reason": result.reason,
    }


def _metadata(records: int, judged: list[dict[str, Any]]) -> dict[str, Any]:
    """What the UI shows: per model and arm the verdict and drifted share (and the link to
    its HTML report), and the worst verdict of the day."""
    order = ["no_verdict", "ok", "warn", "error"]
    worst = max((j["verdict"] for j in judged), key=order.index, default="no_verdict")
    metadata: dict[str, Any] = {"records": records, "verdict": worst}
    if judged:
        shown = pd.DataFrame(judged)[_JUDGED]
        metadata["by_model"] = MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4f"))
        metadata["judged"] = MetadataValue.json(judged)
    else:
        metadata["reason"] = "no served records for the day"
    return metadata


def _empty() -> pd.DataFrame:
    columns = ["column", "kind", "method", "threshold", "threshold_source", "score", "drifted"]
    return pd.DataFrame(
        {c: [] for c in [*columns, "note", EVENT_DATE, "model_tag", "model_version", "arm"]}
    )

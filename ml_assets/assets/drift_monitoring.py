"""The daily drift report of the champion: features and predictions against the reference
profile packaged with it, with partitioned checks."""

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from ml_assets.assets.monitoring_days import day_inputs, drift_kinds, judged_version, severity
from ml_assets.keys import MONITORING_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.drift import DriftResult, compare, prediction_of, summary_metadata
from ml_assets.lib.problems import problem_for
from ml_assets.lib.refs import BentoRef
from ml_assets.lifecycle.served_bundle import bundle_reference, served_calibration
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource

FEATURE_DRIFT = "feature_drift"
PREDICTION_DRIFT = "prediction_drift"
UNSEEN_CATEGORIES = "categories_seen_in_training"
# The checks of a drift table, in the order drift_checks yields their results.
DRIFT_CHECKS = (FEATURE_DRIFT, PREDICTION_DRIFT, UNSEEN_CATEGORIES)
# Where the drift report's code lives, for its code version.
DRIFT_CODE = (
    "ml_assets.assets.drift_monitoring",
    "ml_assets.assets.monitoring_days",
    "ml_assets.lib.drift",
    "ml_assets.lib.drift_calibration",
    "ml_assets.lib.drift_scores",
    "ml_assets.lib.drift_shares",
    "ml_assets.lib.drift_stats",
)


def drift_report_asset(
    config: PipelineConfig, partitions: PartitionsDefinition, features: AssetKey, column: str
) -> AssetsDefinition:
    """The `drift_report` asset of each partition of `features` (named in `column`)."""
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.drift
    key = model_key(config.name, "drift_report")
    kinds = drift_kinds(config)

    @asset(
        key=key,
        ins={"features": AssetIn(features), **day_inputs(config)},
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        # One day per run: the checks are partitioned, one verdict per day.
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"evidently", "pandas"},
        owners=list(config.owners),
        code_version=code_version(
            drift_report_asset,
            policy.model_dump(mode="json"),
            uses=DRIFT_CODE,
        ),
        check_specs=drift_check_specs(key, partitions),
    )
    def drift_report(
        context: AssetExecutionContext,
        features: pd.DataFrame,
        batch_predictions: pd.DataFrame,
        champion_bento: BentoRef,
        lake: LakeResource,
        bento_store: BentoStoreResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        """An Evidently report of the day's features and the champion's predictions against
        the reference profile stored with the champion: per-feature stat test, threshold
        and score (methods per column type and per column from the config; thresholds from
        the config where it sets them, else calibrated with the reference, and the table
        says which), the drifted share and prediction drift. The HTML report is saved in
        the lake and linked here.
        Empty days, all-missing or constant columns and unseen categories get a stated
        verdict, never a crash or a NaN."""
        day = context.partition_key
        version = judged_version(day, batch_predictions, champion_bento)
        bundle = bento_store.bundle_path(champion_bento.model_tag)
        reference, calibration = reference_of(bundle), served_calibration(bundle)
        problem = problem_for(config)
        current = _with_prediction(day, features, batch_predictions, problem.drift_column)
        result = compare(
            current,
            reference,
            kinds,
            policy,
            with_html=policy.save_html,
            calibration=calibration,
            prediction=prediction_of(problem),
        )
        output = _drift_output(config.name, lake, (column, day), version, result)
        context.log.info(f"{day} vs v{version}: {result.verdict}: {result.reason}")
        yield output
        yield from drift_checks(result, version)

    return drift_report


def _drift_output(
    pipeline: str,
    lake: LakeResource,
    partition: tuple[str, str],
    version: str,
    result: DriftResult,
) -> Output[pd.DataFrame]:
    """The day's drift table with its metadata: the summary, drifted columns, unseen
    categories, threshold sources, the HTML report saved in the lake, the per-column table."""
    column, day = partition
    metadata: dict[str, Any] = {"model_version": version, **summary_metadata(result)}
    metadata["drifted_columns"] = MetadataValue.json(result.drifted_columns)
    metadata["unseen_categories"] = MetadataValue.json(result.unseen_categories)
    metadata["threshold_sources"] = MetadataValue.json(metadata["threshold_sources"])
    if result.html:
        path = lake.write_report([pipeline, "drift_report_html"], f"{day}.html", result.html)
        metadata["html_report"] = MetadataValue.path(path)
    table = result.table().assign(**{column: day, "model_version": version})
    metadata["columns"] = MetadataValue.md(_markdown(table))
    return Output(table, metadata=metadata)


def drift_check_specs(key: AssetKey, partitions: PartitionsDefinition) -> list[AssetCheckSpec]:
    """The drift checks of `key` (drift_report, served_drift), partitioned like it."""

    def spec(name: str, description: str) -> AssetCheckSpec:
        return AssetCheckSpec(name, asset=key, description=description, partitions_def=partitions)

    return [
        spec(FEATURE_DRIFT, "Share of drifted features under the configured thresholds."),
        spec(PREDICTION_DRIFT, "The champion's predicted probabilities have not drifted."),
        spec(UNSEEN_CATEGORIES, "Every category of the day was seen in the reference."),
    ]


def _with_prediction(
    day: str, features: pd.DataFrame, batch_predictions: pd.DataFrame, column: str
) -> pd.DataFrame:
    """The day's feature rows with the champion's prediction of each (the column the
    problem type's prediction drift compares)."""
    current = features.reset_index(drop=True)
    if len(current) != len(batch_predictions):
        raise Failure(
            f"{day}: {len(current)} feature rows but {len(batch_predictions)} predictions"
        )
    current[column] = batch_predictions[column].to_numpy()
    return current


def drift_checks(result: DriftResult, version: str) -> Iterator[AssetCheckResult]:
    """The results of drift_check_specs' checks, in their order, for one judged model."""
    common: dict[str, Any] = {"model_version": version, "rows": result.rows}
    yield AssetCheckResult(
        check_name=FEATURE_DRIFT,
        passed=result.verdict in ("ok", "no_verdict"),
        severity=severity(result.verdict),
        description=("no verdict: " if result.verdict == "no_verdict" else "") + result.reason,
        metadata={**common, "verdict": result.verdict, "drifted_share": round(result.share, 4)},
    )
    prediction = result.prediction
    if prediction is None:
        text, drifted = f"no verdict: {result.reason}", False
    else:
        drifted = prediction.drifted
        score = "n/a" if prediction.score is None else f"{prediction.score:.3f}"
        text = f"{prediction.method} {score} (drift at {prediction.threshold}) {prediction.note}"
    yield AssetCheckResult(
        check_name=PREDICTION_DRIFT,
        passed=not drifted,
        severity=AssetCheckSeverity.WARN,
        description=text.strip(),
        metadata=common,
    )
    unseen = result.unseen_categories
    yield AssetCheckResult(
        check_name=UNSEEN_CATEGORIES,
        passed=not unseen,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(f"{c}: {', '.join(v)}" for c, v in unseen.items())
        or "no category outside the reference",
        metadata=common,
    )


def _markdown(table: pd.DataFrame) -> str:
    shown = table[["column", "method", "threshold", "threshold_source", "score", "drifted", "note"]]
    return shown.to_markdown(index=False, floatfmt=".3f")


@functools.lru_cache(maxsize=4)
def reference_of(bundle: Path) -> pd.DataFrame:
    """The reference profile packaged with a champion (bundles are content-addressed by
    their tag, so a cached read is never stale)."""
    try:
        return bundle_reference(bundle)
    except FileNotFoundError as exc:
        raise Failure(f"champion bento: {exc}") from exc

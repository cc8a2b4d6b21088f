"""Daily monitoring of the champion: drift of features and predictions, live performance.

Each is one partition per day with partitioned checks (warn and error severities), and
each records the model version it judged, so the retraining sensor counts only days
judged against the current champion.
"""

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

from ml_assets.keys import MONITORING_GROUP, code_version, features_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.drift import ColumnKind, DriftResult, compare, prediction_of, summary_metadata
from ml_assets.lib.features import EVENT_DATE, feature_kinds
from ml_assets.lib.live_performance import LivePerformance, evaluate
from ml_assets.lib.problems import Calibration, ProblemKind, problem_for
from ml_assets.lib.refs import BentoRef
from ml_assets.lib.scoring import decision_threshold
from ml_assets.lifecycle.served_bundle import bundle_reference, served_calibration, served_metadata
from resources.bento_store import BentoStoreResource
from resources.lake import LakeResource

FEATURE_DRIFT = "feature_drift"
PREDICTION_DRIFT = "prediction_drift"
UNSEEN_CATEGORIES = "categories_seen_in_training"
PERFORMANCE = "performance_within_tolerance"
# Where the drift report's code lives, for its code version.
DRIFT_CODE = (
    "ml_assets.assets.monitoring",
    "ml_assets.lib.drift",
    "ml_assets.lib.drift_calibration",
    "ml_assets.lib.drift_scores",
    "ml_assets.lib.drift_shares",
    "ml_assets.lib.drift_stats",
)


def build_monitoring_assets(
    config: PipelineConfig,
    partitions: PartitionsDefinition,
    features: AssetKey | None = None,
    partition_column: str = EVENT_DATE,
) -> list[AssetsDefinition]:
    """Drift and live performance of each partition of `features` (the pipeline's daily
    features, or a static table's scoring batches), the partition named in
    `partition_column` of their tables."""
    return [
        _drift_report(config, partitions, features or features_key(config.name), partition_column),
        _live_performance(config, partitions, partition_column),
    ]


def _day_inputs(config: PipelineConfig) -> dict[str, AssetIn]:
    return {
        "batch_predictions": AssetIn(model_key(config.name, "batch_predictions")),
        "champion_bento": AssetIn(model_key(config.name, "champion_bento")),
    }


def _judged_version(day: str, predictions: pd.DataFrame, champion_bento: BentoRef) -> str:
    """The champion whose predictions are judged; they must come from the bento's model."""
    served = str(champion_bento.model.version)
    made_by = set(predictions["model_version"].dropna().astype(str))
    if made_by - {served}:
        raise Failure(
            f"{day}: predictions were made by v{', v'.join(sorted(made_by))} but the champion "
            f"is v{served}: materialise batch_predictions for {day} again first"
        )
    return served


def _severity(verdict: str) -> AssetCheckSeverity:
    return AssetCheckSeverity.ERROR if verdict == "error" else AssetCheckSeverity.WARN


def _drift_report(
    config: PipelineConfig, partitions: PartitionsDefinition, features: AssetKey, column: str
) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.drift
    key = model_key(config.name, "drift_report")
    kinds: dict[str, ColumnKind] = {
        name: "numerical" if kind == "numeric" else "categorical"
        for name, kind in feature_kinds(config).items()
    }

    @asset(
        key=key,
        ins={"features": AssetIn(features), **_day_inputs(config)},
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        # One day per run: the checks are partitioned, one verdict per day.
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"evidently", "pandas"},
        owners=list(config.owners),
        code_version=code_version(
            _drift_report,
            policy.model_dump(mode="json"),
            uses=DRIFT_CODE,
        ),
        check_specs=_drift_check_specs(key, partitions),
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
        version = _judged_version(day, batch_predictions, champion_bento)
        bundle = bento_store.bundle_path(champion_bento.model_tag)
        reference, calibration = _reference(bundle), served_calibration(bundle)
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
        yield from _drift_checks(result, version)

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


def _drift_check_specs(key: AssetKey, partitions: PartitionsDefinition) -> list[AssetCheckSpec]:
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


def _drift_checks(result: DriftResult, version: str) -> Iterator[AssetCheckResult]:
    common: dict[str, Any] = {"model_version": version, "rows": result.rows}
    yield AssetCheckResult(
        check_name=FEATURE_DRIFT,
        passed=result.verdict in ("ok", "no_verdict"),
        severity=_severity(result.verdict),
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


def _live_performance(
    config: PipelineConfig, partitions: PartitionsDefinition, column: str
) -> AssetsDefinition:
    monitoring = config.monitoring
    assert monitoring is not None
    policy = monitoring.performance
    key = model_key(config.name, "live_performance")

    @asset(
        key=key,
        ins=_day_inputs(config),
        group_name=MONITORING_GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.multi_run(1),
        kinds={"pandas"},
        owners=list(config.owners),
        code_version=code_version(
            _live_performance,
            policy.model_dump(mode="json"),
            uses=("ml_assets.assets.monitoring", "ml_assets.lib.live_performance"),
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
        version = _judged_version(day, batch_predictions, champion_bento)
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
        severity=_severity(result.verdict),
        description=("no verdict: " if result.verdict == "no_verdict" else "") + result.reason,
        metadata={
            "model_version": version,
            "verdict": result.verdict,
            "labelled": result.labelled,
        },
    )


def _markdown(table: pd.DataFrame) -> str:
    shown = table[["column", "method", "threshold", "threshold_source", "score", "drifted", "note"]]
    return shown.to_markdown(index=False, floatfmt=".3f")


@functools.lru_cache(maxsize=4)
def _reference(bundle: Path) -> pd.DataFrame:
    """The reference profile packaged with a champion (bundles are content-addressed by
    their tag, so a cached read is never stale)."""
    try:
        return bundle_reference(bundle)
    except FileNotFoundError as exc:
        raise Failure(f"champion bento: {exc}") from exc

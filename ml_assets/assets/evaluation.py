"""Evaluation of the challenger on the test window no tuning has seen."""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Output,
    asset,
)

from ml_assets.assets.evaluation_view import (
    HoldoutMetrics,
    evaluation_metadata,
    plots_markdown,
    plots_markdown_images,
)
from ml_assets.keys import EVALUATION_GROUP, WINDOW, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.problems import Calibration, PrimaryMetric, Problem, ProblemKind, problem_for
from ml_assets.lib.refs import CandidateSet, ModelRef
from resources.model_registry import ModelRegistryResource

HOLDS_UP_ON_TEST = "holds_up_on_test"


def build_evaluation_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_evaluation(config)]


def holdout_rows(training_set: pd.DataFrame) -> pd.DataFrame:
    return training_set[training_set[WINDOW] == "test"].reset_index(drop=True)


def _evaluation(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None
    label = config.target.name

    key = model_key(config.name, "evaluation")

    @asset(
        key=key,
        ins={
            "training_set": AssetIn(model_key(config.name, "training_set")),
            "candidates": AssetIn(model_key(config.name, "candidates")),
            "challenger_model": AssetIn(model_key(config.name, "challenger_model")),
        },
        group_name=EVALUATION_GROUP,
        kinds={"scikit-learn", "mlflow"},
        owners=list(config.owners),
        check_specs=[AssetCheckSpec(HOLDS_UP_ON_TEST, asset=key)],
        code_version=code_version(
            _evaluation,
            training.slice_columns,
            uses=(
                "ml_assets.assets.evaluation",
                "ml_assets.assets.evaluation_view",
                "ml_assets.lib.metrics",
                "ml_assets.lib.plots",
            ),
        ),
    )
    def evaluation(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        candidates: CandidateSet,
        challenger_model: ModelRef,
        model_registry: ModelRegistryResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        """The challenger on the test window next to the majority-class and logistic
        baselines: accuracy, precision, recall, F1, ROC AUC, PR AUC, log loss, Brier;
        confusion matrix, ROC, PR and calibration curves (PNG, inline and in MLflow);
        metrics per slice with counts. A warning check says when the challenger, chosen
        on validation, ranks worse than a baseline on this unseen window."""
        problem = problem_for(config)
        test = holdout_rows(training_set)
        y = problem.truth(test[label])
        train = training_set[training_set[WINDOW] == "train"]
        scores, served = _holdout_scores(
            problem,
            (problem.truth(train[label]), test),
            candidates,
            challenger_model,
            model_registry,
        )
        if problem.kind == ProblemKind.BINARY:
            thresholds = {name: float(c.threshold or 0.5) for name, c in served.items()}
            results = _holdout_metrics(test, y, scores, thresholds, training.slice_columns)
        else:
            results = _problem_metrics(problem, test, y, scores, served, training.slice_columns)
        run_id = challenger_model.mlflow_run_id
        pictures = _log_evaluation(
            model_registry, run_id, (problem, y), scores, results, served[next(iter(scores))]
        )
        yield Output(
            results.table.reset_index(names="model"),
            metadata=evaluation_metadata(problem, results, len(y), pictures, run_id),
        )
        yield _holds_up_on_test(results.table, problem.primary)

    return evaluation


def _holds_up_on_test(table: pd.DataFrame, metric: PrimaryMetric) -> AssetCheckResult:
    """Warn (never block: the champion decision judges the test window) when the
    challenger's test score is worse than a baseline's, e.g. after a shift between the
    validation and test windows."""
    auc = table[metric.name]
    challenger = str(table.index[0])
    mine = auc.iloc[0]
    behind = {
        str(name): float(value)
        for name, value in auc.iloc[1:].items()
        if value is not None
        and not pd.isna(value)
        and (pd.isna(mine) or metric.gain(float(mine), float(value)) < 0)
    }
    shown = "undefined" if mine is None or pd.isna(mine) else f"{float(mine):.4f}"
    if behind:
        names = ", ".join(f"{n} {v:.4f}" for n, v in behind.items())
        description = f"{challenger} {metric.title} {shown} on test is worse than: {names}"
    else:
        description = f"{challenger} {metric.title} {shown} on test is at or above every baseline"
    return AssetCheckResult(
        check_name=HOLDS_UP_ON_TEST,
        passed=not behind,
        severity=AssetCheckSeverity.WARN,
        description=description,
    )


def _holdout_scores(
    problem: Problem,
    data: tuple[np.ndarray, pd.DataFrame],
    candidates: CandidateSet,
    challenger: ModelRef,
    model_registry: ModelRegistryResource,
) -> tuple[dict[str, np.ndarray], dict[str, Calibration]]:
    """Test-window predictions of the challenger (first), the tuned linear candidate
    (logistic regression, or ridge) when the challenger is another family, and the constant
    baseline learnt from the training labels (`data`: train truth, test rows); and what
    each is served with (its own threshold or interval)."""
    train_truth, test = data
    regression = problem.kind == ProblemKind.REGRESSION
    name = f"challenger ({challenger.family})"
    scores = {name: model_registry.score(challenger, test, problem)}
    served = {name: Calibration.from_metadata(challenger.calibration_metadata())}
    linear_family = "ridge" if regression else "logistic_regression"
    linear = candidates.family(linear_family)
    if linear is not None and challenger.family != linear_family:
        linear_name = f"{linear_family.split('_')[0]} baseline"
        scores[linear_name] = model_registry.score(linear.model, test, problem)
        served[linear_name] = Calibration.from_metadata(linear.model.calibration_metadata())
    constant = "mean baseline" if regression else "majority baseline"
    scores[constant] = problem.baseline(train_truth, len(test))
    # A constant score: any threshold gives one class.
    served[constant] = Calibration(threshold=0.5) if not regression else Calibration()
    return scores, served


def _problem_metrics(
    problem: Problem,
    test: pd.DataFrame,
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    served: dict[str, Calibration],
    slice_columns: list[str],
) -> HoldoutMetrics:
    """The models' metrics on the test window for a multiclass or regression problem."""
    from ml_assets.lib.slices import problem_slices

    table = pd.DataFrame(
        {name: problem.metrics(y, p, served[name]) for name, p in scores.items()}
    ).T
    challenger = next(iter(scores.values()))
    confusion: dict[str, Any] = {}
    if problem.kind == ProblemKind.MULTICLASS:
        predicted = np.asarray(challenger).argmax(axis=1)
        confusion = {
            actual: {
                guess: int(np.sum((y == i) & (predicted == j)))
                for j, guess in enumerate(problem.classes)
            }
            for i, actual in enumerate(problem.classes)
        }
    slices = problem_slices(test, y, challenger, slice_columns, problem)
    return HoldoutMetrics(table, confusion, slices)


def _holdout_metrics(
    test: pd.DataFrame,
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float],
    slice_columns: list[str],
) -> HoldoutMetrics:
    """The models' metrics on the test window, each labelled at its own threshold; the
    challenger is the first of `scores`."""
    from ml_assets.lib import metrics

    table = pd.DataFrame(
        {name: metrics.binary_metrics(y, p, thresholds[name]) for name, p in scores.items()}
    ).T
    table["threshold"] = [thresholds[name] for name in table.index]
    p_challenger = next(iter(scores.values()))
    threshold = thresholds[next(iter(scores))]
    confusion = metrics.confusion(y, (p_challenger >= threshold).astype(int))
    slices = metrics.slice_metrics(test, y, p_challenger, slice_columns, threshold)
    return HoldoutMetrics(table, confusion, slices)


def _log_evaluation(
    model_registry: ModelRegistryResource,
    run_id: str,
    truth: tuple[Problem, np.ndarray],
    scores: dict[str, np.ndarray],
    results: HoldoutMetrics,
    served: Calibration,
) -> str:
    """Log the challenger's test metrics, the plots and the metric and slice tables to its
    MLflow run; return the plots as Markdown with the images inline."""
    table, confusion, slices = results
    problem, y = truth
    challenger_name = next(iter(scores))
    model_registry.log_metrics(
        run_id,
        {f"test_{name}": value for name, value in table.loc[challenger_name].to_dict().items()},
    )
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if problem.kind == ProblemKind.BINARY:
            title = f"{challenger_name} at {served.threshold or 0.5:.3f}"
            pictures = plots_markdown(y, scores, confusion, title, out)
        else:
            images = problem.plots(y, scores[challenger_name], served, out)
            pictures = "\n\n".join(plots_markdown_images(images))
        slices.to_csv(out / "slices.csv", index=False)
        table.to_csv(out / "metrics.csv")
        model_registry.log_files(run_id, out, "evaluation")
    return pictures


__all__ = ["build_evaluation_assets"]

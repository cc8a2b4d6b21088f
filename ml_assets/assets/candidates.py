"""Tuned candidate models and the challenger, with the quality gates it must pass."""

import tempfile
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
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import MODELS_GROUP, WINDOW, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.features import EVENT_DATE, feature_kinds, history_ops
from ml_assets.lib.folds import Fold, earlier_folds, selection_score
from ml_assets.lib.problems import Problem, problem_for
from ml_assets.lib.quality_gates import beats_baselines, clears_floor
from ml_assets.lib.refs import Candidate, CandidateSet, ModelRef
from ml_assets.lifecycle.candidate_runs import (
    THRESHOLD_CURVE,
    THRESHOLD_DIR,
    TrainingData,
    tune_all,
)
from ml_assets.lifecycle.lineage import run_tags, window_tags
from resources.model_registry import CHALLENGER, ModelRegistryResource

BEATS_BASELINES = "beats_baselines"
CLEARS_FLOOR = "clears_floor"
# Where the candidates' code lives, for their code version: this module (the tuning of one
# family) and the maths of tuning, saving and gating.
CANDIDATES_CODE = (
    "ml_assets.assets.candidates",
    "ml_assets.lifecycle.candidate_runs",
    "ml_assets.lib.tuning",
    "ml_assets.lib.candidates",
    "ml_assets.lib.artifacts",
    "ml_assets.lib.feature_spec",
    "ml_assets.lib.quality_gates",
    "ml_assets.lib.thresholds",
    "ml_assets.lib.problems",
    "ml_assets.lib.stacking",
    "ml_assets.lib.folds",
)


def build_candidate_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_candidates(config), _challenger(config)]


def split_frames(
    training_set: pd.DataFrame, spec: FeatureSpec, problem: Problem
) -> dict[str, tuple[Any, Any]]:
    """(matrix, labels as the model is fitted on them) per window, built with the feature
    spec learnt on training rows."""
    return {
        str(name): (spec.matrix(rows), problem.target(rows[spec.label]))
        for name, rows in training_set.groupby(WINDOW, sort=False)
    }


def window_truth(training_set: pd.DataFrame, label: str, problem: Problem) -> dict[str, Any]:
    """The labels metrics compare predictions with, per window."""
    return {
        str(name): problem.truth(rows[label])
        for name, rows in training_set.groupby(WINDOW, sort=False)
    }


def fit_spec(config: PipelineConfig, training_set: pd.DataFrame) -> FeatureSpec:
    """Category levels from the training window; history tables from the days the final
    model is fitted on (train and validation when it is refit on both), so that the test
    window and serving read the same, latest history."""
    train = training_set[training_set[WINDOW] == "train"]
    training = config.training
    refit = training is not None and training.refit_on_validation
    fitted = training_set[
        training_set[WINDOW].isin(["train", "validation"] if refit else ["train"])
    ]
    return FeatureSpec.fit(
        train, feature_kinds(config), config.target.name, history_ops(config), fitted
    )


def _candidates(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None

    @asset(
        key=model_key(config.name, "candidates"),
        ins={"training_set": AssetIn(model_key(config.name, "training_set"))},
        group_name=MODELS_GROUP,
        kinds={"optuna", "mlflow", "xgboost", "scikit-learn"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            _candidates,
            training.model_dump(mode="json"),
            uses=CANDIDATES_CODE,
        ),
    )
    def candidates(
        context: AssetExecutionContext,
        training_set: pd.DataFrame,
        model_registry: ModelRegistryResource,
    ) -> Output[CandidateSet]:
        """Each enabled model family tuned by Optuna (seeded TPE, median pruning) on the
        validation window, refit on the training window and saved without pickle
        (XGBoost's own format or skops, with a feature spec and sha256 manifest), next to
        the untuned baselines' validation scores. One MLflow run per training with a
        nested run per family: parameters, validation AUC, tuning history, model files."""
        from ml_assets.lib.quality_gates import baseline_scores

        problem = problem_for(config)
        spec = fit_spec(config, training_set)
        windows = split_frames(training_set, spec, problem)
        truth = window_truth(training_set, spec.label, problem)
        folds = _folds(training_set, spec, problem, training.validation_folds)
        tags = run_tags(context, config) | window_tags(training_set)
        with model_registry.run(config.name, f"train {context.run.run_id[:8]}", tags) as parent:
            found = tune_all(
                context,
                (config, model_registry),
                (spec, problem),
                TrainingData(windows, truth, folds),
                (parent, tags),
            )
            baselines = baseline_scores(
                problem,
                spec,
                windows["train"],
                windows["validation"],
                (truth["train"], truth["validation"]),
                training.seed,
            )
            model_registry.log_metrics(parent, {f"baseline_{k}": v for k, v in baselines.items()})
        ranked = sorted(found, key=lambda c: _rank(c, problem, training.selection))
        result = CandidateSet(parent, tuple(ranked), baselines)
        table = pd.DataFrame(result.rows())
        timed_out = [c.model.family for c in ranked if c.timed_out]
        if timed_out:
            context.log.warning(
                f"tuning of {', '.join(timed_out)} stopped at the safety-net timeout "
                f"({training.tuning.timeout_seconds} s) before {training.tuning.n_trials} trials"
            )
        return Output(
            result,
            metadata={
                "candidates": MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
                "baselines": MetadataValue.json({k: round(v, 4) for k, v in baselines.items()}),
                "selection": f"{training.selection} over {len(folds) + 1} fold(s)",
                "validation_test_gap": MetadataValue.json(_gaps(ranked, problem)),
                "trials_pruned": int(table["trials_pruned"].sum()),
                "tuning_seconds": float(table["tuning_seconds"].sum()),
                "tuning_timed_out": timed_out,
                "mlflow_run_id": parent,
            },
        )

    return candidates


def _folds(
    training_set: pd.DataFrame, spec: FeatureSpec, problem: Problem, folds: int
) -> list[Fold]:
    """The rolling-origin folds before the validation window (none for a static table)."""
    if folds <= 1 or EVENT_DATE not in training_set:
        return []

    def frames(rows: pd.DataFrame) -> tuple[tuple[Any, Any], Any]:
        labels = rows[spec.label]
        return (spec.matrix(rows), problem.target(labels)), problem.truth(labels)

    return earlier_folds(training_set, (EVENT_DATE, WINDOW), folds, frames)


def _rank(candidate: Candidate, problem: Problem, rule: str) -> tuple[float, float]:
    """Best selection score first; under `worst_fold`, ties broken by the mean."""
    scores = candidate.fold_scores or [candidate.model.validation_score or float("nan")]
    mean = selection_score(scores, "mean", problem.primary)
    chosen = candidate.selection_score if candidate.selection_score is not None else mean
    return problem.primary.rank_key(chosen), problem.primary.rank_key(mean)


def _gaps(candidates: list[Candidate], problem: Problem) -> dict[str, float | None]:
    """How much worse each candidate did on test than on validation (positive = worse on
    test, whatever the metric's direction): large gaps mean selection was fooled."""
    gaps: dict[str, float | None] = {}
    for c in candidates:
        validation, test = c.model.validation_score, c.test_score
        gaps[c.model.family] = (
            round(problem.primary.gain(validation, test), 4)
            if validation is not None and test is not None
            else None
        )
    return gaps


def _challenger(config: PipelineConfig) -> AssetsDefinition:
    key = model_key(config.name, "challenger_model")
    floor = config.promotion.min_validation_roc_auc
    required: list[str] = list(config.promotion.baselines)
    metric = problem_for(config).primary

    @asset(
        key=key,
        ins={"candidates": AssetIn(model_key(config.name, "candidates"))},
        group_name=MODELS_GROUP,
        kinds={"mlflow"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        check_specs=[
            AssetCheckSpec(BEATS_BASELINES, asset=key, blocking=True),
            AssetCheckSpec(CLEARS_FLOOR, asset=key, blocking=True),
        ],
        code_version=code_version(
            _challenger, floor, required, uses=("ml_assets.lib.quality_gates",)
        ),
    )
    def challenger_model(
        context: AssetExecutionContext,
        candidates: CandidateSet,
        model_registry: ModelRegistryResource,
    ) -> Iterator[Output[ModelRef] | AssetCheckResult]:
        """The candidate with the best validation ROC AUC, registered as a new version of
        the pipeline's MLflow model with the alias `challenger` and its manifest hash,
        with its decision threshold and the validation curve it was chosen from.
        Blocking checks: it must beat the untuned baselines of `promotion.baselines`
        (majority class, default logistic regression) on validation and clear
        `promotion.min_validation_roc_auc`;
        a challenger that fails either never reaches the champion decision."""
        best = candidates.best().model
        registered = model_registry.register(best, run_tags(context, config))
        model_registry.set_alias(config.name, CHALLENGER, str(registered.version))
        score = float(best.validation_score if best.validation_score is not None else "nan")
        yield Output(
            registered,
            metadata={
                "family": registered.family,
                "version": str(registered.version),
                "fitted_on": registered.fitted_on,
                f"validation_{metric.name}": round(score, 4),
                "mlflow_run_id": registered.mlflow_run_id,
                **_served_with(registered),
                "threshold_choice": MetadataValue.md(
                    _threshold_markdown(model_registry, registered)
                ),
            },
        )
        baselines = {k: v for k, v in candidates.baselines.items() if k in required}
        gates = (beats_baselines(score, baselines, metric), clears_floor(score, floor, metric))
        for gate in gates:
            yield AssetCheckResult(
                check_name=gate.name,
                passed=gate.passed,
                severity=AssetCheckSeverity.ERROR,
                description=gate.description,
                metadata={f"validation_{metric.name}": round(score, 4)},
            )

    return challenger_model


def _served_with(model: ModelRef) -> dict[str, float]:
    """What was chosen on validation to serve the model with, rounded for the UI."""
    names = {"threshold": "decision_threshold"}
    return {names.get(k, k): round(v, 4) for k, v in model.calibration_metadata().items()}


def _threshold_markdown(registry: ModelRegistryResource, model: ModelRef) -> str:
    """How the threshold was chosen, with the validation curve it came from."""
    from ml_assets.lib import plots

    with tempfile.TemporaryDirectory() as folder:
        fetched = registry.fetch_files(model.mlflow_run_id, THRESHOLD_DIR, Path(folder))
        if fetched is None:
            return model.threshold_reason
        curve = pd.read_csv(fetched / THRESHOLD_CURVE)
        if curve.empty or model.threshold is None:
            return model.threshold_reason
        picture = plots.plot_threshold_curve(
            curve, model.threshold, "objective", Path(folder) / "threshold.png"
        )
        return f"{model.threshold_reason}\n\n{plots.markdown_image(picture, 'threshold curve')}"

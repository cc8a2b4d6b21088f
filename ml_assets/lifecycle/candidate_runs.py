"""The candidates of one training: each enabled family tuned (or, for the stacking
ensemble, fitted) in a nested MLflow run, saved without pickle, with what it is served with
(chosen on validation: a decision threshold or a prediction interval)."""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.folds import Fold, selection_score
from ml_assets.lib.problems import Calibration, Problem
from ml_assets.lib.refs import Candidate, ModelRef
from resources.model_registry import MODEL_DIR, ModelRegistryResource

if TYPE_CHECKING:
    from ml_assets.lib.tuning import TuningResult

# The validation curve each candidate's threshold was chosen on: an MLflow artifact.
THRESHOLD_DIR = "threshold"
THRESHOLD_CURVE = "threshold_curve.csv"


@dataclass(frozen=True)
class TrainingData:
    """A training's rows as models see them: (matrix, fitted labels) per window, the
    labels metrics compare with per window, and the earlier rolling-origin folds."""

    windows: dict[str, tuple[Any, Any]]
    truth: dict[str, Any]
    folds: list[Fold] = field(default_factory=list)


def tune_all(
    context: AssetExecutionContext,
    where: tuple[PipelineConfig, ModelRegistryResource],
    model_kind: tuple[FeatureSpec, Problem],
    data: TrainingData,
    parent: tuple[str, dict[str, str]],
) -> list[Candidate]:
    """Every enabled family tuned, each in its nested MLflow run; then the stacking
    ensemble of the tuned ones, when it is enabled."""
    from ml_assets.lib.tuning import tune_candidate

    config, registry = where
    training = config.training
    assert training is not None
    # A pipeline's own study storage wins; else the platform's shared one (production).
    shared = registry.study_storage() if training.tuning.storage is None else None
    tuning = training.tuning.model_copy(update={"storage": shared}) if shared else training.tuning
    spec, problem = model_kind
    windows, validation_truth = data.windows, data.truth["validation"]
    enabled = [f for f, c in training.candidates.items() if c.enabled]
    fitted: dict[str, Any] = {}
    found: list[Candidate] = []
    for family in (f for f in enabled if f != "stacking"):

        def tune(family: str = family) -> "TuningResult":
            return tune_candidate(
                family,
                training.candidates[family],  # type: ignore[index]
                tuning,
                spec,
                windows["train"],
                windows["validation"],
                training.seed,
                study_name=f"{config.name}-{family}-{context.run.run_id}",
                problem=problem,
                validation_truth=validation_truth,
            )

        candidate, fitted[family] = _tune_one(
            context, where, family, tune, model_kind, data, parent
        )
        found.append(candidate)
    if "stacking" in enabled:

        def stack() -> "TuningResult":
            return _stack(fitted, problem, windows, validation_truth, training.seed)

        found.append(_tune_one(context, where, "stacking", stack, model_kind, data, parent)[0])
    return found


def _stack(
    fitted: dict[str, Any],
    problem: Problem,
    windows: dict[str, tuple[Any, Any]],
    validation_truth: Any,
    seed: int,
) -> "TuningResult":
    """The stacking ensemble of the tuned models, fitted on the training window and scored
    on validation like a tuning result (no trials: it is not tuned)."""
    import time

    from ml_assets.lib.stacking import build_stacking
    from ml_assets.lib.tuning import TuningResult

    begun = time.perf_counter()
    model = build_stacking(fitted, problem.kind, seed).fit(*windows["train"])
    score = problem.score(validation_truth, problem.predict(model, windows["validation"][0]))
    members = [name for name, _ in model.estimators]
    return TuningResult(
        family="stacking",
        best_params={"members": ",".join(members)},
        best_value=float("nan") if score is None else score,
        n_trials=0,
        n_complete=0,
        n_pruned=0,
        seconds=time.perf_counter() - begun,
        history=pd.DataFrame(),
        model=model,
    )


def _tune_one(
    context: AssetExecutionContext,
    where: tuple[PipelineConfig, ModelRegistryResource],
    family: str,
    tune: Callable[[], "TuningResult"],
    model_kind: tuple[FeatureSpec, Problem],
    data: TrainingData,
    parent: tuple[str, dict[str, str]],
) -> tuple[Candidate, Any]:
    """Tune (or fit) one family in a nested MLflow run; its model files are logged there,
    with what was chosen on validation to serve it (decision threshold, prediction
    interval). The tuned parameters are scored on the earlier folds and, unless switched
    off, refit on train + validation before saving. Returns the candidate and its
    train-only fitted model (what a stacking ensemble is built from)."""
    from ml_assets.lib.artifacts import save_model

    config, registry = where
    training = config.training
    assert training is not None
    parent_id, tags = parent
    spec, problem = model_kind
    windows, truth = data.windows, data.truth
    with registry.run(config.name, family, {**tags, "family": family}, parent_id) as run_id:
        result = tune()
        choice = problem.calibrate(
            truth["validation"],
            problem.predict(result.model, windows["validation"][0]),
            config.promotion.model_dump(),
        )
        folds = [*(_fold_score(result.model, f, problem) for f in data.folds), result.best_value]
        refit = training.refit_on_validation
        saved = _refit(result.model, windows["train"], windows["validation"]) if refit else None
        final = result.model if saved is None else saved
        test_score = problem.score(truth["test"], problem.predict(final, windows["test"][0]))
        registry.log_params(run_id, result.best_params)
        registry.log_metrics(
            run_id,
            _tuning_metrics(result, choice, problem.primary.name)
            | _fold_metrics(folds, test_score, problem.primary.name),
        )
        with tempfile.TemporaryDirectory() as folder:
            history = Path(folder) / "tuning_history.csv"
            result.history.to_csv(history, index=False)
            registry.log_files(run_id, history)
            if not choice.curve.empty:
                curve = Path(folder) / THRESHOLD_CURVE
                choice.curve.to_csv(curve, index=False)
                registry.log_files(run_id, curve, THRESHOLD_DIR)
            model_dir = Path(folder) / MODEL_DIR
            manifest = save_model(final, spec, model_dir, extra={"family": family, **tags})
            registry.log_files(run_id, model_dir, MODEL_DIR)
    context.log.info(
        f"{family}: validation {problem.primary.name} {result.best_value:.4f}, {result.n_trials} "
        f"trials ({result.n_pruned} pruned) in {result.seconds:.0f} s"
    )
    model = ModelRef(
        pipeline=config.name,
        family=family,
        mlflow_run_id=run_id,
        manifest_sha256=manifest.manifest_sha256,
        validation_score=result.best_value,
        metric=problem.primary.name,
        params=dict(result.best_params),
        threshold=choice.threshold,
        threshold_reason=choice.reason,
        interval_halfwidth=choice.interval_halfwidth,
        interval_level=choice.interval_level,
        fitted_on="train+validation" if saved is not None else "train",
    )
    candidate = Candidate(
        model,
        result.n_trials,
        result.n_pruned,
        round(result.seconds, 1),
        timed_out=result.timed_out,
        fold_scores=[round(f, 6) for f in folds],
        selection_score=selection_score(folds, training.selection, problem.primary),
        test_score=test_score,
    )
    return candidate, result.model


def _fold_score(model: Any, fold: Fold, problem: Problem) -> float:
    """The tuned parameters refit on the days before an earlier fold, scored on it."""
    from sklearn.base import clone

    fitted = clone(model).fit(*fold.train)
    score = problem.score(fold.truth, problem.predict(fitted, fold.validation[0]))
    return float("nan") if score is None else float(score)


def _refit(model: Any, train: tuple[Any, Any], validation: tuple[Any, Any]) -> Any:
    """The same estimator, unfitted, fitted again on train + validation rows."""
    from sklearn.base import clone

    matrix = pd.concat([train[0], validation[0]])
    labels = np.concatenate([np.asarray(train[1]), np.asarray(validation[1])])
    return clone(model).fit(matrix, labels)


def _fold_metrics(folds: list[float], test: float | None, metric: str) -> dict[str, float]:
    values = {f"fold_{i}_{metric}": v for i, v in enumerate(folds, start=1)}
    return values | ({f"test_{metric}": test} if test is not None else {})


def _tuning_metrics(result: "TuningResult", choice: Calibration, metric: str) -> dict[str, float]:
    """What a family's MLflow run records of its tuning and of what it serves with."""
    chosen = {
        "decision_threshold": choice.threshold,
        "interval_halfwidth": choice.interval_halfwidth,
    }
    return {
        f"validation_{metric}": result.best_value,
        "trials": result.n_trials,
        "trials_pruned": result.n_pruned,
        "tuning_seconds": result.seconds,
        **{k: v for k, v in chosen.items() if v is not None},
    }

"""Tuning and selection of the text candidates over the example store's windows: each
family is tuned by Optuna on the validation window (the problem's primary metric),
refit on train + validation, and scored on the test window next to the majority-class
baseline, with the classification metrics of the problem type (per class included)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.config.lifecycle import CandidateConfig, TuningConfig
from ml_assets.lib.problems import Metrics, Problem

from .classifiers import build_text_model, class_probabilities, model_input
from .examples import LABEL, TEXT

MAJORITY = "majority_class"


@dataclass
class TextCandidate:
    """One tuned family: best parameters, its validation score, the refit model and its
    test predictions and metrics."""

    family: str
    params: dict[str, Any]
    validation_score: float | None
    trials: int
    seconds: float
    model: Any
    test_predictions: np.ndarray
    test_metrics: Metrics = field(default_factory=dict)


@dataclass(frozen=True)
class Windows:
    """The examples' rows per window as (texts, embeddings, truth codes)."""

    train: tuple[list[str], np.ndarray, np.ndarray]
    validation: tuple[list[str], np.ndarray, np.ndarray]
    test: tuple[list[str], np.ndarray, np.ndarray]


def windows_of(
    examples: pd.DataFrame, embeddings: np.ndarray, window: str, problem: Problem
) -> Windows:
    """Split examples (and their embedding rows, same order) by their `window` column."""
    if len(examples) != len(embeddings):
        raise ValueError(f"{len(examples)} examples but {len(embeddings)} embedding rows")
    parts = {}
    for name in ("train", "validation", "test"):
        rows = (examples[window] == name).to_numpy()
        if not rows.any():
            raise ValueError(f"the {name} window has no examples")
        texts = examples.loc[rows, TEXT].astype(str).tolist()
        parts[name] = (texts, embeddings[rows], problem.truth(examples.loc[rows, LABEL]))
    return Windows(**parts)


def tune_text_candidate(
    family: str,
    candidate: CandidateConfig,
    tuning: TuningConfig,
    windows: Windows,
    problem: Problem,
    seed: int,
) -> TextCandidate:
    """Seeded TPE over `candidate.search_space` (no search space: one fit of the fixed
    params), then the best refit on train + validation and scored on test."""
    import optuna

    from ml_assets.lib.tuning import suggest

    started = time.perf_counter()
    n_classes = len(problem.classes)
    train_texts, train_vectors, train_truth = windows.train
    val_texts, val_vectors, val_truth = windows.validation

    def fit_score(params: Mapping[str, Any]) -> float:
        model = build_text_model(family, {**candidate.params, **params}, seed)
        model.fit(model_input(family, train_texts, train_vectors), train_truth)
        proba = class_probabilities(model, model_input(family, val_texts, val_vectors), n_classes)
        score = problem.score(val_truth, proba)
        if score is None:
            raise ValueError("the validation window has fewer than two classes")
        return score

    best: dict[str, Any] = {}
    trials = 1
    if candidate.search_space:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize" if problem.primary.greater_is_better else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
        study.optimize(
            lambda trial: fit_score(suggest(trial, candidate.search_space)),
            n_trials=tuning.n_trials,
            timeout=tuning.timeout_seconds,
        )
        best, value, trials = dict(study.best_params), float(study.best_value), len(study.trials)
    else:
        value = fit_score({})
    model = build_text_model(family, {**candidate.params, **best}, seed)
    test_texts, test_vectors, test_truth = windows.test
    model.fit(
        model_input(family, train_texts + val_texts, np.vstack([train_vectors, val_vectors])),
        np.concatenate([train_truth, val_truth]),
    )
    predictions = class_probabilities(
        model, model_input(family, test_texts, test_vectors), n_classes
    )
    return TextCandidate(
        family=family,
        params={**candidate.params, **best},
        validation_score=value,
        trials=trials,
        seconds=time.perf_counter() - started,
        model=model,
        test_predictions=predictions,
        test_metrics=problem.metrics(
            test_truth, predictions, problem.calibrate(test_truth, predictions, {})
        ),
    )


def evaluate_llm_candidate(classifier: Any, windows: Windows, problem: Problem) -> TextCandidate:
    """The LLM classifier (`llm.LlmClassifier`) on validation (examples drawn from the
    train window) and on test (from train + validation), like a tuned family; nothing
    is fitted or tuned, `params` records the template and its version."""
    started = time.perf_counter()
    train_texts, train_vectors, train_truth = windows.train
    val_texts, val_vectors, val_truth = windows.validation
    labels = [problem.classes[int(c)] for c in train_truth]
    validation = classifier.predict(val_texts, val_vectors, train_texts, labels, train_vectors)
    store_texts = train_texts + val_texts
    store_labels = labels + [problem.classes[int(c)] for c in val_truth]
    test_texts, test_vectors, test_truth = windows.test
    predictions = classifier.predict(
        test_texts, test_vectors, store_texts, store_labels, np.vstack([train_vectors, val_vectors])
    )
    template = classifier.template
    return TextCandidate(
        family="llm_few_shot",
        params={
            "prompt": template.name,
            "prompt_version": template.version,
            "model": classifier.model,
            "examples": classifier.examples,
            "invalid_answers": classifier.invalid_answers,
        },
        validation_score=problem.score(val_truth, validation),
        trials=1,
        seconds=time.perf_counter() - started,
        model=None,
        test_predictions=predictions,
        test_metrics=problem.metrics(
            test_truth, predictions, problem.calibrate(test_truth, predictions, {})
        ),
    )


def majority_metrics(windows: Windows, problem: Problem) -> Metrics:
    """The majority-class baseline (training class shares for every row) on test."""
    train_truth = np.concatenate([windows.train[2], windows.validation[2]])
    test_truth = windows.test[2]
    predictions = problem.baseline(train_truth, len(test_truth))
    return problem.metrics(test_truth, predictions, problem.calibrate(test_truth, predictions, {}))


def best_candidate(candidates: list[TextCandidate], problem: Problem) -> TextCandidate:
    """The candidate with the best validation score (never the test score)."""
    if not candidates:
        raise ValueError("no text candidate was trained")
    return min(candidates, key=lambda c: problem.primary.rank_key(c.validation_score))


FEW_SHOT_SIZES = (1, 2, 4, 8, 16, 32, 64)


def few_shot_curve(
    windows: Windows,
    problem: Problem,
    params: Mapping[str, Any],
    seed: int,
    sizes: tuple[int, ...] = FEW_SHOT_SIZES,
) -> list[dict[str, Any]]:
    """Quality against the number of examples per class: the embedding classifier with
    `params` fitted on `k` examples of each class (drawn with `seed` from train +
    validation; a class with fewer gives them all) and scored on the test window, for
    each `k` below the largest class, then on every example. One row per size: `k`,
    the rows fitted, the primary metric, accuracy and macro F1."""
    _, train_vectors, train_truth = windows.train
    _, val_vectors, val_truth = windows.validation
    vectors = np.vstack([train_vectors, val_vectors])
    truth = np.concatenate([train_truth, val_truth])
    _, test_vectors, test_truth = windows.test
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(truth))
    largest = int(np.bincount(truth).max())
    rows = []
    for k in [*(s for s in sizes if s < largest), None]:
        if k is None:
            chosen = order
        else:
            chosen = np.concatenate([order[truth[order] == c][:k] for c in np.unique(truth)])
        if len(np.unique(truth[chosen])) < 2:
            continue
        model = build_text_model("embedding_classifier", params, seed)
        model.fit(vectors[chosen], truth[chosen])
        proba = class_probabilities(model, test_vectors, len(problem.classes))
        metrics = problem.metrics(test_truth, proba, problem.calibrate(test_truth, proba, {}))
        rows.append(
            {
                "examples_per_class": "all" if k is None else k,
                "rows": len(chosen),
                problem.primary.name: metrics[problem.primary.name],
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
            }
        )
    return rows


def refit_for_test(
    family: str,
    params: Mapping[str, Any],
    seed: int,
    fitted: tuple[list[str], np.ndarray, np.ndarray],
    test: tuple[list[str], np.ndarray],
    classes: tuple[str, ...],
    llm: Any = None,
) -> tuple[Any, np.ndarray]:
    """The champion decision's challenger: `family` refit on the `fitted` rows (texts,
    vectors, truth codes) and its class probabilities on the `test` texts and vectors.
    The LLM family (`llm`, an `llm.LlmClassifier`) fits nothing (model None): its prompts
    draw their examples from the fitted rows, as in `evaluate_llm_candidate`."""
    texts, vectors, truth = fitted
    test_texts, test_vectors = test
    if family == "llm_few_shot":
        if llm is None:
            raise ValueError("the llm_few_shot challenger needs its LLM classifier")
        labels = [classes[int(c)] for c in truth]
        return None, llm.predict(test_texts, test_vectors, texts, labels, vectors)
    model = build_text_model(family, params, seed)
    model.fit(model_input(family, texts, vectors), truth)
    return model, class_probabilities(
        model, model_input(family, test_texts, test_vectors), len(classes)
    )

"""Text classification's model half: the text candidates tuned and compared on the
example store's windows, next to the majority-class baseline."""

import json
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import EVALUATION_GROUP, WINDOW, code_version, llm_resource_key, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.text.llm_bundle import uses_llm
from resources.llm import LlmEndpointResource

# Headline metrics shown per model in the UI (all metrics, per class included, are in
# the asset's table).
_HEADLINE = ("roc_auc_ovr", "accuracy", "macro_f1", "weighted_f1", "log_loss")


def build_text_candidate_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_text_candidates(config)]


def _text_candidates(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None

    asks_llm = uses_llm(config)
    # The LLM key's resource is the pipeline's own (its key names the pipeline), so it is
    # required by key rather than as a typed parameter, whose name would be fixed.
    llm_key = llm_resource_key(config.name)

    @asset(
        key=model_key(config.name, "text_candidates"),
        deps=[model_key(config.name, "prompt_templates")] if asks_llm else [],
        ins={
            "examples": AssetIn(model_key(config.name, "example_store")),
            "embeddings": AssetIn(model_key(config.name, "embeddings")),
        },
        required_resource_keys={llm_key} if asks_llm else set(),
        group_name=EVALUATION_GROUP,
        kinds={"optuna", "scikit-learn", "pandas"},
        owners=list(config.owners),
        code_version=code_version(
            _text_candidates,
            training.model_dump(mode="json"),
            uses=(
                "ml_assets.lib.text.classifiers",
                "ml_assets.lib.text.selection",
                "ml_assets.lib.text.llm",
                "ml_assets.lib.text.llm_bundle",
                "ml_assets.lib.problems.multiclass",
            ),
        ),
    )
    def text_candidates(
        context: AssetExecutionContext, examples: pd.DataFrame, embeddings: pd.DataFrame
    ) -> Output[pd.DataFrame]:
        """Each enabled text family (a logistic head on the embeddings; TF-IDF + logistic
        regression) tuned by Optuna on the validation window, refit on train + validation
        and scored on the test window, next to the majority-class baseline. One row per
        model with every metric of the classification evaluation (per class precision,
        recall, support); the best on validation is named in `best_family`. Metadata
        `few_shot_curve`: the embedding classifier's test quality against the number of
        examples per class it is fitted on."""
        from ml_assets.lib.problems import problem_for
        from ml_assets.lib.text.selection import (
            MAJORITY,
            best_candidate,
            evaluate_llm_candidate,
            few_shot_curve,
            majority_metrics,
            tune_text_candidate,
            windows_of,
        )

        problem = problem_for(config)
        if list(embeddings["example_id"]) != list(examples["example_id"]):
            raise Failure("embeddings do not match the example store: materialise embeddings")
        vectors = embeddings.drop(columns=["example_id"]).to_numpy(dtype="float32")
        try:
            windows = windows_of(examples, vectors, WINDOW, problem)
        except ValueError as exc:
            raise Failure(f"text candidates cannot train: {exc}") from exc
        results = [
            evaluate_llm_candidate(
                llm_classifier_of(config, problem.classes, getattr(context.resources, llm_key)),
                windows,
                problem,
            )
            if family == "llm_few_shot"
            else tune_text_candidate(
                family, candidate, training.tuning, windows, problem, training.seed
            )
            for family, candidate in training.candidates.items()
            if candidate.enabled
        ]
        best = best_candidate(results, problem)
        rows = [
            {
                "model": r.family,
                "validation_score": r.validation_score,
                "trials": r.trials,
                "params": json.dumps(r.params, sort_keys=True),
                **r.test_metrics,
            }
            for r in results
        ]
        rows.append({"model": MAJORITY, **majority_metrics(windows, problem)})
        embedding = next((r for r in results if r.family == "embedding_classifier"), None)
        curve = (
            few_shot_curve(windows, problem, embedding.params, training.seed)
            if embedding is not None
            else []
        )
        table = pd.DataFrame(rows)
        shown = {str(row["model"]): {k: _rounded(row.get(k)) for k in _HEADLINE} for row in rows}
        context.log.info(f"text candidates on test: {shown}; best on validation: {best.family}")
        return Output(
            table,
            metadata={
                "best_family": best.family,
                f"best_validation_{problem.primary.name}": _rounded(best.validation_score),
                "test_metrics": MetadataValue.json(shown),
                "per_class": MetadataValue.json(
                    {k: _rounded(v) for k, v in best.test_metrics.items() if "[" in k}
                ),
                "seconds": MetadataValue.json({r.family: round(r.seconds, 1) for r in results}),
                "few_shot_curve": MetadataValue.json(
                    [
                        {k: _rounded(v) if isinstance(v, float) else v for k, v in row.items()}
                        for row in curve
                    ]
                ),
            },
        )

    return text_candidates


def llm_classifier_of(
    config: PipelineConfig, classes: tuple[str, ...], endpoint: LlmEndpointResource
) -> Any:
    """The LLM classifier of `text.llm`, its template validated, with the API key of the
    pipeline's LLM resource (its EnvVar resolved by Dagster when the run started)."""
    from ml_assets.lib.text.llm import MissingApiKeyError
    from ml_assets.lib.text.llm_bundle import llm_classifier
    from ml_assets.lib.text.prompts import PromptError

    assert config.text is not None and config.text.llm is not None
    try:
        return llm_classifier(config.text.llm, config.text.prompts, classes, endpoint.api_key)
    except MissingApiKeyError as exc:
        raise Failure(f"text.llm.api_key_env: {exc.variable} is empty") from exc
    except PromptError as exc:
        raise Failure(str(exc)) from exc


def _rounded(value: object) -> float | None:
    return None if value is None else round(float(value), 4)  # type: ignore[arg-type]

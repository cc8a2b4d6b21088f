"""Text classification's champion decision: the best text candidate (the LLM classifier
included), registered in MLflow, against the registry's text champion on the same test
window (the platform's promotion rule, decision log and aliases: `lifecycle.promotion`);
its bento is `text_bento`'s."""

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Failure,
    Output,
    asset,
)

from ml_assets.assets.champion import PROMOTION_CODE, decision_metadata
from ml_assets.assets.text_bento import build_text_bento
from ml_assets.keys import (
    MODELS_GROUP,
    WINDOW,
    code_version,
    llm_resource_key,
    model_key,
)
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import TextConfig
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.refs import ModelRef, TextChampionRef
from ml_assets.lib.text.llm import MissingApiKeyError
from ml_assets.lib.text.llm_bundle import LLM_FAMILY, uses_llm
from resources.audit_store import AuditStoreResource
from resources.bento_store import BentoStoreResource
from resources.model_registry import CHAMPION, ModelRegistryResource


def build_text_champion_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_text_champion(config), build_text_bento(config)]


def _text_champion(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None
    key = model_key(config.name, "text_champion")
    asks_llm = uses_llm(config)
    # The LLM's key scores an LLM challenger or champion. Its resource is the pipeline's
    # own (its key names the pipeline), so it is required by key; Dagster refuses typed
    # resource parameters next to keys, so the other resources are required by key too.
    llm_key = llm_resource_key(config.name)
    resource_keys = {"bento_store", "audit_store", "model_registry"}

    @asset(
        key=key,
        required_resource_keys=resource_keys | ({llm_key} if asks_llm else set()),
        ins={
            "examples": AssetIn(model_key(config.name, "example_store")),
            "embeddings": AssetIn(model_key(config.name, "embeddings")),
            "candidates": AssetIn(model_key(config.name, "text_candidates")),
        },
        group_name=MODELS_GROUP,
        kinds={"scikit-learn", "mlflow"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            _text_champion,
            training.model_dump(mode="json"),
            config.promotion.model_dump(mode="json"),
            uses=(
                "ml_assets.lib.text.bundle",
                "ml_assets.lib.text.llm",
                "ml_assets.lib.text.llm_bundle",
                "ml_assets.lifecycle.text_promotion",
                *PROMOTION_CODE,
            ),
        ),
    )
    def text_champion(
        context: AssetExecutionContext,
        examples: pd.DataFrame,
        embeddings: pd.DataFrame,
        candidates: pd.DataFrame,
    ) -> Output[TextChampionRef]:
        """The champion decision of a text pipeline, on the path of tabular ones: the text
        candidate best on validation, refit on train + validation, is saved as a verified
        text bundle (its training examples and their vectors, for the nearest examples),
        logged to an MLflow run and registered as a version of the pipeline's model (with
        the example store version, the encoder and the prompt template versions compared);
        it meets the registry's `champion` on the same test window and is promoted only if
        it gains the configured margin and the paired bootstrap puts the gain above 0.
        Promotion moves `champion` (and `previous_champion`); every decision is tagged on
        the version and appended to the hash-chained decision log (`mlap audit verify`).
        The LLM classifier fits nothing: it answers the test window with examples drawn
        from train + validation (the pipeline's key resource), and its bundle holds the
        template file and the endpoint, never the key."""
        from ml_assets.lib.problems import Calibration, problem_for
        from ml_assets.lib.text.bundle import TextScorer, write_text_bundle
        from ml_assets.lib.text.encoders import load_encoder
        from ml_assets.lib.text.selection import MAJORITY, refit_for_test, windows_of
        from ml_assets.lifecycle.lineage import run_tags
        from ml_assets.lifecycle.promotion import decide_and_promote
        from ml_assets.lifecycle.text_promotion import (
            ENCODER,
            EXAMPLE_STORE_VERSION,
            PROMPT_VERSIONS,
            register_text_model,
            serving_copy,
        )

        bento_store: BentoStoreResource = context.resources.bento_store
        audit_store: AuditStoreResource = context.resources.audit_store
        model_registry: ModelRegistryResource = context.resources.model_registry
        problem = problem_for(config)
        vectors = embeddings.drop(columns=["example_id"]).to_numpy(dtype="float32")
        windows = windows_of(examples, vectors, WINDOW, problem)
        ranked = candidates[candidates["model"] != MAJORITY].sort_values(
            "validation_score", ascending=not problem.primary.greater_is_better, kind="stable"
        )
        best = ranked.iloc[0]
        family, params = str(best["model"]), json.loads(str(best["params"]))
        api_key = getattr(context.resources, llm_key).api_key if asks_llm else None
        fitted = (examples[WINDOW] != "test").to_numpy()
        texts = examples["text"].astype(str).tolist()
        test_texts, test_vectors, truth = windows.test
        model, predicted = refit_for_test(
            family,
            params,
            training.seed,
            (
                [t for t, f in zip(texts, fitted, strict=True) if f],
                vectors[fitted],
                problem.truth(examples.loc[fitted, "label"]),
            ),
            (test_texts, test_vectors),
            problem.classes,
            llm=_llm(config, problem.classes, api_key) if family == LLM_FAMILY else None,
        )
        test_metrics = problem.metrics(truth, predicted, Calibration())
        encoder = load_encoder((config.text or TextConfig()).encoder)
        store_version = frame_hash(examples)
        with tempfile.TemporaryDirectory(prefix="text-bundle-") as scratch:
            folder = Path(scratch) / "bundle"
            document = write_text_bundle(
                folder,
                model=model,
                family=family,
                config=config,
                encoder_name=encoder.name,
                examples=examples[fitted],
                embeddings=vectors[fitted],
                metadata={
                    "classes": list(problem.classes),
                    "params": params,
                    "example_store_version": store_version,
                    "test_score": test_metrics.get(problem.primary.name),
                    # What live performance compares each day with.
                    "test_metrics": test_metrics,
                },
            )
            _same_prompt(document, params)
            challenger = register_text_model(
                model_registry,
                folder,
                family=family,
                metric=problem.primary.name,
                validation_score=float(best["validation_score"]),
                run_tags={**run_tags(context, config), **_window_tags(examples)},
                params=params,
                metrics={f"test_{k}": v for k, v in test_metrics.items()},
                version_tags={
                    EXAMPLE_STORE_VERSION: store_version,
                    ENCODER: encoder.name,
                    PROMPT_VERSIONS: json.dumps(_prompt_versions(candidates), sort_keys=True),
                },
            )

        def score(registered: ModelRef) -> np.ndarray:
            """The test window's class probabilities of a registered text model."""
            if registered.version == challenger.version:
                return predicted
            tag = serving_copy(model_registry, bento_store, registered)
            scorer = TextScorer.from_bundle(
                bento_store.bundle_path(tag), encoder=encoder, api_key=api_key
            )
            try:
                proba = scorer.evaluate(test_texts)
            except MissingApiKeyError as exc:
                raise Failure(f"champion v{registered.version} is an LLM: {exc}") from exc
            return proba[:, [scorer.classes.index(c) for c in problem.classes]]

        decision = decide_and_promote(
            model_registry,
            audit_store,
            challenger,
            pd.DataFrame(),
            truth,
            config.promotion,
            problem,
            score=score,
            seed=training.seed,
        )
        champion = model_registry.by_alias(config.name, CHAMPION)
        tags = model_registry.version_tags(config.name, str(challenger.version))
        ref = TextChampionRef(
            decision=decision,
            model_tag=serving_copy(model_registry, bento_store, champion) if champion else None,
            family=champion.family if champion else None,
            encoder=encoder.name,
            example_store_version=store_version,
            champion=champion,
        )
        context.log.info(f"text champion: {decision.action}: {decision.reason}")
        return Output(
            ref,
            metadata={
                **decision_metadata(decision),
                "challenger_family": family,
                f"challenger_test_{problem.primary.name}": decision.details.get("challenger_score"),
                f"champion_test_{problem.primary.name}": decision.details.get("champion_score"),
                "champion_model_tag": ref.model_tag or "",
                "champion_family": ref.family or "",
                "example_store_version": store_version,
                "mlflow_run_id": challenger.mlflow_run_id,
                "decision_log_index": int(tags["decision.log_index"]),
                "decision_log_entry_hash": tags["decision.log_entry_hash"],
            },
        )

    return text_champion


def _llm(config: PipelineConfig, classes: tuple[str, ...], api_key: str | None) -> Any:
    """The LLM challenger's classifier (`text.llm`, its template validated, the key)."""
    from ml_assets.lib.text.llm_bundle import llm_classifier
    from ml_assets.lib.text.prompts import PromptError

    assert config.text is not None and config.text.llm is not None
    try:
        return llm_classifier(config.text.llm, config.text.prompts, classes, api_key)
    except (MissingApiKeyError, PromptError) as exc:
        raise Failure(f"the LLM challenger cannot be scored: {exc}") from exc


def _same_prompt(document: dict[str, Any], params: dict[str, Any]) -> None:
    """An LLM bundle must package the template version its candidate was compared with."""
    packaged = (document.get("llm") or {}).get("prompt_version")
    if packaged is not None and packaged != params.get("prompt_version"):
        raise Failure(
            f"the prompt template is now version {packaged}, text_candidates compared "
            f"{params.get('prompt_version')}: materialise text_candidates again"
        )


def _prompt_versions(candidates: pd.DataFrame) -> dict[str, str]:
    """The prompt template (name: version) each LLM candidate compared was filled from."""
    found = {}
    for raw in candidates.loc[candidates["model"] == "llm_few_shot", "params"]:
        params = json.loads(str(raw))
        if params.get("prompt"):
            found[str(params["prompt"])] = str(params.get("prompt_version", ""))
    return found


def _window_tags(examples: pd.DataFrame) -> dict[str, str]:
    """The days (or rows, without days) of each window of the example store."""
    from ml_assets.lifecycle.lineage import window_tags

    return window_tags(examples)

"""Text classification's champion decision and its bento: the best text candidate,
registered in MLflow, against the registry's text champion on the same test window (the
platform's promotion rule, decision log and aliases: `lifecycle.promotion`), and the bento
of `bentos.text_service` that serves the champion's verified bundle."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Output,
    asset,
)

from ml_assets.assets.champion import PROMOTION_CODE, decision_metadata
from ml_assets.keys import DEPLOYMENT_GROUP, MODELS_GROUP, WINDOW, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import TextConfig
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.refs import ModelRef, TextBentoRef, TextChampionRef
from resources.audit_store import AuditStoreResource
from resources.bento_store import BentoStoreResource
from resources.model_registry import CHAMPION, ModelRegistryResource

TEXT_SERVICE = "bentos.text_service:TextService"


def build_text_champion_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    return [_text_champion(config), _text_bento(config)]


def _text_champion(config: PipelineConfig) -> AssetsDefinition:
    training = config.training
    assert training is not None
    key = model_key(config.name, "text_champion")

    @asset(
        key=key,
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
        bento_store: BentoStoreResource,
        audit_store: AuditStoreResource,
        model_registry: ModelRegistryResource,
    ) -> Output[TextChampionRef]:
        """The champion decision of a text pipeline, on the path of tabular ones: the text
        candidate best on validation, refit on train + validation, is saved as a verified
        text bundle (its training examples and their vectors, for the nearest examples),
        logged to an MLflow run and registered as a version of the pipeline's model (with
        the example store version, the encoder and the prompt template versions compared);
        it meets the registry's `champion` on the same test window and is promoted only if
        it gains the configured margin and the paired bootstrap puts the gain above 0.
        Promotion moves `champion` (and `previous_champion`); every decision is tagged on
        the version and appended to the hash-chained decision log (`mlap audit verify`)."""
        from ml_assets.lib.problems import Calibration, problem_for
        from ml_assets.lib.text.bundle import TextScorer, write_text_bundle
        from ml_assets.lib.text.classifiers import (
            build_text_model,
            class_probabilities,
            model_input,
        )
        from ml_assets.lib.text.encoders import load_encoder
        from ml_assets.lib.text.selection import MAJORITY, windows_of
        from ml_assets.lifecycle.lineage import run_tags
        from ml_assets.lifecycle.promotion import decide_and_promote
        from ml_assets.lifecycle.text_promotion import (
            ENCODER,
            EXAMPLE_STORE_VERSION,
            PROMPT_VERSIONS,
            register_text_model,
            serving_copy,
        )

        problem = problem_for(config)
        vectors = embeddings.drop(columns=["example_id"]).to_numpy(dtype="float32")
        windows = windows_of(examples, vectors, WINDOW, problem)
        # The LLM classifier is compared in text_candidates but not packaged for serving
        # yet: the champion is the best of the families the text bundle can hold.
        packaged = ~candidates["model"].isin([MAJORITY, "llm_few_shot"])
        ranked = candidates[packaged].sort_values(
            "validation_score", ascending=not problem.primary.greater_is_better, kind="stable"
        )
        best = ranked.iloc[0]
        family, params = str(best["model"]), json.loads(str(best["params"]))
        fitted = (examples[WINDOW] != "test").to_numpy()
        model = build_text_model(family, params, training.seed)
        texts = examples["text"].astype(str).tolist()
        model.fit(
            model_input(
                family, [t for t, f in zip(texts, fitted, strict=True) if f], vectors[fitted]
            ),
            problem.truth(examples.loc[fitted, "label"]),
        )
        test_texts, test_vectors, truth = windows.test
        n_classes = len(problem.classes)
        predicted = class_probabilities(
            model, model_input(family, test_texts, test_vectors), n_classes
        )
        test_metrics = problem.metrics(truth, predicted, Calibration())
        encoder = load_encoder((config.text or TextConfig()).encoder)
        store_version = frame_hash(examples)
        with tempfile.TemporaryDirectory(prefix="text-bundle-") as scratch:
            folder = Path(scratch) / "bundle"
            write_text_bundle(
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
            scorer = TextScorer.from_bundle(bento_store.bundle_path(tag), encoder=encoder)
            answers = scorer.predict(test_texts)
            return np.array([[a["probabilities"][c] for c in problem.classes] for a in answers])

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


def _text_bento(config: PipelineConfig) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, "text_bento"),
        ins={"champion": AssetIn(model_key(config.name, "text_champion"))},
        group_name=DEPLOYMENT_GROUP,
        kinds={"bentoml"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            _text_bento, uses=("ml_assets.lib.text.bundle", "ml_assets.lifecycle.text_promotion")
        ),
    )
    def text_bento(
        context: AssetExecutionContext,
        champion: TextChampionRef,
        bento_store: BentoStoreResource,
        model_registry: ModelRegistryResource,
    ) -> Output[TextBentoRef]:
        """The bento of `bentos.text_service` serving the registry's text champion (its
        bundle copied from MLflow to BentoML's model store, verified), built with `bentoml
        build` once per champion version (a kept champion reuses its bento). Serve it with
        `mlap serve <pipeline>`: `/predict` takes texts and answers the label, its
        probability and the ids of the nearest examples."""
        from dagster import Failure

        from ml_assets.lifecycle.text_promotion import text_champion

        current = text_champion(model_registry, bento_store, config.name)
        if current is None:
            raise Failure("no text champion yet: nothing to package")
        model, model_tag = current
        version = model_tag.partition(":")[2]
        bento_tag = f"{config.name}:{version}"
        found = bento_store.find_bento(bento_tag)
        built = found is None
        if found is None:
            found = bento_store.build(
                model_tag,
                version,
                {"pipeline": config.name, "model": model_tag, "model_version": str(model.version)},
                f"{config.name}: text champion v{model.version} ({model.family})",
                service=TEXT_SERVICE,
            )
        context.log.info(f"text bento {found.tag} ({'built' if built else 'kept'})")
        return Output(
            TextBentoRef(tag=found.tag, model_tag=model_tag, built=built),
            metadata={
                "bento_tag": found.tag,
                "model_tag": model_tag,
                "model_version": str(model.version),
                "built": built,
            },
        )

    return text_bento

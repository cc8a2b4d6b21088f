"""Text classification's champion decision and its bento: the best text candidate
against the current text champion on the same test window (the platform's promotion rule:
the margin and the paired bootstrap), the winner saved as a verified text bundle in
BentoML's model store, and the bento of `bentos.text_service` that serves it. Each
decision is appended to the pipeline's hash-chained decision log under the promotion
lock, and the current champion is read back from that log."""

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import DEPLOYMENT_GROUP, MODELS_GROUP, WINDOW, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import TextConfig
from ml_assets.lib.hashing import frame_hash
from ml_assets.lib.refs import Decision, TextBentoRef, TextChampionRef
from resources.audit_store import AuditStoreResource
from resources.bento_store import BentoStoreResource
from resources.model_registry import ModelRegistryResource

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
        kinds={"scikit-learn", "bentoml"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            _text_champion,
            training.model_dump(mode="json"),
            config.promotion.model_dump(mode="json"),
            uses=("ml_assets.lib.text.bundle", "ml_assets.lib.promotion_rule"),
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
        """The champion decision of a text pipeline: the text candidate best on validation,
        refit on train + validation, against the current text champion scored on the same
        test window; promoted only if it gains the configured margin and the paired
        bootstrap puts the gain above 0 (the first valid challenger is promoted). A
        promoted model is saved as a verified text bundle (its training examples and their
        vectors, for the nearest examples) in BentoML's model store. Metadata: the
        decision, both scores, the reason, the champion's model tag and the decision's
        entry in the hash-chained decision log (`mlap audit verify` checks the chain)."""
        from ml_assets.lib.problems import Calibration, problem_for
        from ml_assets.lib.promotion_rule import decide_by_metric
        from ml_assets.lib.text.bundle import TextScorer, write_text_bundle
        from ml_assets.lib.text.classifiers import (
            build_text_model,
            class_probabilities,
            model_input,
        )
        from ml_assets.lib.text.encoders import load_encoder
        from ml_assets.lib.text.selection import MAJORITY, windows_of
        from ml_assets.lifecycle.text_promotion import (
            current_text_champion,
            record_text_decision,
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
        challenger = class_probabilities(
            model, model_input(family, test_texts, test_vectors), n_classes
        )
        # The decision reads the champion and records the new one under the promotion
        # lock: two trainings deciding at once are decided one after the other.
        with model_registry.promotion_lock(config.name):
            before = current_text_champion(audit_store, config.name)
            champion = None
            if before.get("model_tag") and bento_store.has_model(before["model_tag"]):
                scorer = TextScorer.from_bundle(bento_store.bundle_path(before["model_tag"]))
                answers = scorer.predict(test_texts)
                champion = np.array(
                    [[a["probabilities"][c] for c in problem.classes] for a in answers]
                )
            promotion = config.promotion
            decision = decide_by_metric(
                problem,
                truth,
                challenger,
                champion,
                margin=promotion.margin,
                alpha=promotion.alpha,
                resamples=promotion.bootstrap_resamples,
                seed=training.seed,
            )
            version_before = before.get("version")
            model_tag, version_after = before.get("model_tag"), version_before
            encoder = load_encoder((config.text or TextConfig()).encoder)
            if decision.promote:
                version_after = str(int(version_before or 0) + 1)
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
                            "version": version_after,
                            "params": params,
                            "test_score": decision.challenger_score,
                            # What live performance compares each day with.
                            "test_metrics": problem.metrics(truth, challenger, Calibration()),
                        },
                    )
                    model_tag = (
                        f"{config.name}_text:v{version_after}-{document['manifest_sha256'][:8]}"
                    )
                    bento_store.import_bundle(model_tag, folder, {"pipeline": config.name})
            ref = TextChampionRef(
                decision=Decision(
                    action="promote" if decision.promote else "keep",
                    pipeline=config.name,
                    challenger_version=version_after if decision.promote else None,
                    champion_version_before=version_before,
                    champion_version_after=version_after,
                    reason=decision.reason,
                    details={
                        k: v
                        for k, v in decision.to_dict().items()
                        if k not in ("reason", "promote")
                    },
                    decided_at=datetime.now(UTC).isoformat(),
                ),
                model_tag=model_tag,
                family=family if decision.promote else before.get("family"),
                encoder=encoder.name,
                example_store_version=frame_hash(examples),
            )
            entry = record_text_decision(audit_store, ref)
        context.log.info(f"text champion: {ref.decision.action}: {decision.reason}")
        return Output(
            ref,
            metadata={
                "action": ref.decision.action,
                "reason": decision.reason,
                "challenger_family": family,
                f"challenger_test_{problem.primary.name}": decision.challenger_score,
                f"champion_test_{problem.primary.name}": decision.champion_score,
                "champion_model_tag": model_tag or "",
                "champion_version": version_after or "",
                "champion_family": ref.family or "",
                "example_store_version": ref.example_store_version or "",
                "decision": MetadataValue.json(ref.decision.details),
                "decision_log_index": entry.index,
                "decision_log_entry_hash": entry.entry_hash,
            },
        )

    return text_champion


def _text_bento(config: PipelineConfig) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, "text_bento"),
        ins={"champion": AssetIn(model_key(config.name, "text_champion"))},
        group_name=DEPLOYMENT_GROUP,
        kinds={"bentoml"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(_text_bento, uses=("ml_assets.lib.text.bundle",)),
    )
    def text_bento(
        context: AssetExecutionContext, champion: TextChampionRef, bento_store: BentoStoreResource
    ) -> Output[TextBentoRef]:
        """The bento of `bentos.text_service` serving the text champion's bundle, built
        with `bentoml build` once per champion model (a kept champion reuses its bento).
        Serve it with `bentoml serve <tag>`: `/predict` takes texts and answers the label,
        its probability and the ids of the nearest examples."""
        from dagster import Failure

        if champion.model_tag is None:
            raise Failure("no text champion yet: nothing to package")
        version = champion.model_tag.partition(":")[2]
        bento_tag = f"{config.name}:{version}"
        found = bento_store.find_bento(bento_tag)
        built = found is None
        if found is None:
            found = bento_store.build(
                champion.model_tag,
                version,
                {"pipeline": config.name, "model": champion.model_tag},
                f"{config.name}: text champion {champion.model_tag}",
                service=TEXT_SERVICE,
            )
        context.log.info(f"text bento {found.tag} ({'built' if built else 'kept'})")
        return Output(
            TextBentoRef(tag=found.tag, model_tag=champion.model_tag, built=built),
            metadata={"bento_tag": found.tag, "model_tag": champion.model_tag, "built": built},
        )

    return text_bento

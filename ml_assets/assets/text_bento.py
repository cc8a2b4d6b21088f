"""The bento of `bentos.text_service` that serves a text pipeline's registered champion
(its verified bundle: a classifier, or the LLM classifier's template and endpoint)."""

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Output,
    asset,
)

from ml_assets.keys import DEPLOYMENT_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.refs import TextBentoRef, TextChampionRef
from resources.bento_store import BentoStoreResource
from resources.model_registry import ModelRegistryResource

TEXT_SERVICE = "bentos.text_service:TextService"


def build_text_bento(config: PipelineConfig) -> AssetsDefinition:
    @asset(
        key=model_key(config.name, "text_bento"),
        ins={"champion": AssetIn(model_key(config.name, "text_champion"))},
        group_name=DEPLOYMENT_GROUP,
        kinds={"bentoml"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            build_text_bento,
            uses=("ml_assets.lib.text.bundle", "ml_assets.lifecycle.text_promotion"),
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

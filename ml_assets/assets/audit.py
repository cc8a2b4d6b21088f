"""The audit passport asset: one reviewable record per champion version."""

from dagster import AssetExecutionContext, AssetsDefinition, Failure, MetadataValue, Output, asset

from ml_assets.keys import AUDIT_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.passport_render import render_markdown
from ml_assets.lib.refs import PassportRef
from ml_assets.lifecycle.passport import build_passport
from resources.audit_store import AuditStoreResource
from resources.model_registry import CHAMPION, ModelRegistryResource


def build_audit_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    @asset(
        key=model_key(config.name, "passport"),
        deps=[model_key(config.name, "champion_bento")],
        group_name=AUDIT_GROUP,
        kinds={"json"},
        owners=list(config.owners),
        io_manager_key="refs_io_manager",
        code_version=code_version(
            build_audit_assets,
            uses=("ml_assets.lifecycle.passport", "ml_assets.lib.passport_render"),
        ),
    )
    def passport(
        context: AssetExecutionContext,
        model_registry: ModelRegistryResource,
        audit_store: AuditStoreResource,
    ) -> Output[PassportRef]:
        """The champion's audit passport: the training, validation and test partitions and
        their data versions, the materialisations they came from (read from the Dagster
        event log), the code version of every asset on the path and the git commit, the
        config's hash and content, the data checks on those partitions, the evaluation,
        SHAP top features, the MLflow run and registered version, the promotion decision
        and its decision-log entry, and the bento. Stored as JSON, shown as Markdown."""
        champion = model_registry.by_alias(config.name, CHAMPION)
        if champion is None:
            raise Failure(f"{config.name} has no champion to write a passport for")
        record = build_passport(context.instance, model_registry, config, champion)
        version = str(champion.version)
        path = audit_store.write_passport(config.name, version, record)
        return Output(
            PassportRef(record["passport_id"], version, str(path), len(record["missing"])),
            metadata={
                "passport_id": record["passport_id"],
                "missing_items": len(record["missing"]),
                "passport": MetadataValue.md(render_markdown(record)),
                "json": MetadataValue.path(str(path)),
            },
        )

    return [passport]

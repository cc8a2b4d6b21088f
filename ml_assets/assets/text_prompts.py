"""A text pipeline's prompt template, loaded from its file, validated and versioned."""

import json

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from ml_assets.keys import MODELS_GROUP, code_version, model_key
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.text.prompts import prompt_path


def build_prompt_assets(config: PipelineConfig) -> list[AssetsDefinition]:
    text = config.text
    if text is None or text.llm is None:
        return []
    path = prompt_path(text.prompts, text.llm.prompt)
    # The file's bytes (not its path: versions must not depend on the checkout's folder)
    # are part of the code version: editing the template marks the asset changed in the
    # UI, and gives a new data version when materialised.
    content = path.read_bytes().hex() if path.is_file() else "missing"

    @asset(
        key=model_key(config.name, "prompt_templates"),
        group_name=MODELS_GROUP,
        kinds={"pandas", "yaml"},
        owners=list(config.owners),
        code_version=code_version(
            build_prompt_assets, text.llm.prompt, content, uses=("ml_assets.lib.text.prompts",)
        ),
    )
    def prompt_templates(context: AssetExecutionContext) -> Output[pd.DataFrame]:
        """The LLM classifier's prompt template from the prompts folder, validated (format,
        roles, undefined variables, the label list and the text present, balanced braces)
        and versioned by the sha256 of the file. One row per template: name, format,
        version, variables and the text of each part. Metadata: the version and file."""
        from ml_assets.lib.text.prompts import PromptError, load_prompt

        try:
            template = load_prompt(path)
        except PromptError as exc:
            raise Failure(str(exc)) from exc
        parts = [{"role": role, "content": content} for role, content in template.parts]
        frame = pd.DataFrame(
            [
                {
                    "name": template.name,
                    "format": template.format,
                    "version": template.version,
                    "variables": ",".join(template.variables),
                    "parts": json.dumps(parts),
                }
            ]
        )
        context.log.info(f"prompt {template.name} version {template.version}")
        return Output(
            frame,
            data_version=DataVersion(template.version),
            metadata={
                "prompt": template.name,
                "prompt_version": template.version,
                "format": template.format,
                "file": str(path),
                "parts": MetadataValue.json(parts),
            },
        )

    return [prompt_templates]

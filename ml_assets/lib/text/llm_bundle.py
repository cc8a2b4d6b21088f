"""An LLM champion's part of a text bundle, and the classifier built from it.

The LLM classifier has no fitted weights: what it is made of is the prompt template, the
endpoint and the example store it draws its examples from. Its bundle holds the template
file byte for byte as `prompt.yaml` (its version, the sha256 of its bytes, is the one
compared in `text_candidates`) and, in the bundle document under `llm`, the template's
name and version, the endpoint's base URL, model and timeout, the examples per prompt and
the *name* of the environment variable holding the API key. The key itself is never
written: whoever serves the bundle reads it from that variable and passes it in.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_assets.lib.config.models import PipelineConfig
from ml_assets.lib.config.text import LlmConfig

from .llm import LlmClassifier, MissingApiKeyError
from .prompts import load_prompt, prompt_path

LLM_FAMILY = "llm_few_shot"
PROMPT_FILE = "prompt.yaml"


def uses_llm(config: PipelineConfig) -> bool:
    """Whether a pipeline compares the LLM classifier (`text.llm` and the candidate
    family): its assets that may ask the endpoint then need the key's resource."""
    training = config.training
    return (
        config.text is not None
        and config.text.llm is not None
        and training is not None
        and LLM_FAMILY in training.candidates
    )


def llm_classifier(
    llm: LlmConfig, prompts: str | Path, classes: Sequence[str], api_key: str | None
) -> LlmClassifier:
    """The classifier `text.llm` describes, its template read from the prompts folder and
    validated (PromptError), with `api_key` (MissingApiKeyError when one is configured and
    `api_key` is empty)."""
    if llm.api_key_env and not api_key:
        raise MissingApiKeyError(llm.api_key_env)
    template = load_prompt(prompt_path(prompts, llm.prompt))
    return _classifier(template, llm.model_dump(), classes, api_key)


def write_llm_part(folder: Path, llm: LlmConfig, prompts: str | Path) -> dict[str, Any]:
    """Copy the template file into the bundle `folder` as PROMPT_FILE; the `llm` entry
    of the bundle document (no key, only its variable's name)."""
    source = prompt_path(prompts, llm.prompt)
    template = load_prompt(source)
    shutil.copyfile(source, folder / PROMPT_FILE)
    return {
        "prompt": template.name,
        "prompt_version": template.version,
        "base_url": llm.base_url,
        "model": llm.model,
        "timeout_seconds": llm.timeout_seconds,
        "examples": llm.examples,
        "api_key_env": llm.api_key_env,
        "concurrency": llm.concurrency,
    }


def classifier_from_bundle(
    folder: Path, part: Mapping[str, Any], classes: Sequence[str], api_key: str | None
) -> LlmClassifier:
    """The classifier of a verified bundle's `llm` entry and template file, with
    `api_key`. Without the key the entry's variable names, it loads (its bundle can be
    read and described) but asks nothing: `missing_key` names the variable, and scoring
    raises MissingApiKeyError."""
    template = load_prompt(folder / PROMPT_FILE)
    if template.version != part["prompt_version"]:
        raise ValueError(
            f"{PROMPT_FILE} in {folder} has version {template.version}, the bundle "
            f"records {part['prompt_version']}"
        )
    named = dataclasses.replace(template, name=str(part["prompt"]))
    return _classifier(named, part, classes, api_key)


def _classifier(
    template: Any, settings: Mapping[str, Any], classes: Sequence[str], api_key: str | None
) -> LlmClassifier:
    return LlmClassifier(
        template=template,
        classes=tuple(classes),
        base_url=str(settings["base_url"]),
        model=str(settings["model"]),
        api_key=api_key or None,
        examples=int(settings["examples"]),
        timeout_seconds=float(settings["timeout_seconds"]),
        api_key_env=settings.get("api_key_env"),
        # Bundles written before the setting asked one text at a time.
        concurrency=int(settings.get("concurrency", 1)),
    )

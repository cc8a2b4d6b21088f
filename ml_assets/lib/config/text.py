"""Pydantic model of a text pipeline's own settings: the encoder that embeds texts and how
the example store and the nearest-example search behave."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from .base import StrictModel

# A built-in encoder name, or `package.module:Class` for a team's own encoder.
_ENCODER = re.compile(r"^(wordllama|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")


class LlmConfig(StrictModel):
    """The LLM classifier (candidate family `llm_few_shot`): a prompt template from the
    prompts folder filled with the label list, the `examples` most similar stored examples
    and the text, sent to an OpenAI-compatible endpoint; the answer must be one label."""

    prompt: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Template name: the file `<prompts>/<prompt>.yaml`.",
    )
    base_url: str = Field(
        pattern=r"^https?://",
        description="OpenAI-compatible API base URL (e.g. `http://127.0.0.1:8000/v1`).",
    )
    model: str = Field(min_length=1, description="Model name sent with each request.")
    api_key_env: str | None = Field(
        None, description="Environment variable holding the API key (sent as a Bearer token)."
    )
    examples: int = Field(4, ge=0, le=50, description="Most similar examples in each prompt.")
    timeout_seconds: float = Field(30, gt=0, description="Timeout of one request.")
    concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Requests in flight at once when a batch (an evaluation, a /predict "
        "request, a day of texts) asks about several texts; 1 asks one text at a time.",
    )


class TextConfig(StrictModel):
    """How texts become vectors and examples: the encoder (offline; `wordllama` ships its
    256-dim static model in its wheel, or `package.module:Class` implementing the encoder
    interface of `ml_assets.lib.text.encoders`), the nearest examples returned with each
    prediction, and the shortest text kept in the example store."""

    encoder: str = Field(
        "wordllama",
        description="`wordllama` or `package.module:Class` (a TextEncoder: `name`, `dim`, "
        "`encode(texts) -> array (n, dim)`).",
    )
    neighbours: int = Field(
        5, ge=1, le=100, description="Nearest training examples returned with a prediction."
    )
    min_chars: int = Field(
        1, ge=1, description="Texts shorter than this (after trimming) are quarantined as empty."
    )
    prompts: str = Field(
        "../prompts",
        description="Folder of prompt templates (`<name>.yaml`), relative to the config file.",
    )
    llm: LlmConfig | None = Field(
        None, description="The LLM classifier's endpoint and prompt (family `llm_few_shot`)."
    )

    @field_validator("encoder")
    @classmethod
    def _encoder_name(cls, value: str) -> str:
        if not _ENCODER.match(value):
            raise ValueError(f"encoder {value!r} is neither `wordllama` nor `package.module:Class`")
        return value

"""Pydantic model of a text pipeline's own settings: the encoder that embeds texts and how
the example store and the nearest-example search behave."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from .base import StrictModel

# A built-in encoder name, or `package.module:Class` for a team's own encoder.
_ENCODER = re.compile(r"^(wordllama|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")


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

    @field_validator("encoder")
    @classmethod
    def _encoder_name(cls, value: str) -> str:
        if not _ENCODER.match(value):
            raise ValueError(f"encoder {value!r} is neither `wordllama` nor `package.module:Class`")
        return value

"""Text encoders behind one small interface, so a team can plug in its own.

An encoder has a `name` (recorded with every embedding and model: it is part of their
version), a `dim`, and `encode(texts)` returning an (n, dim) float32 array of unit
vectors (a text with no known token gets the zero vector). `wordllama` is built in: the
static 256-dim model its wheel ships, loaded from the package's own files (its `load()`
looks for the tokenizer in the wrong folder and then downloads it; nothing here reaches
the network). Any other encoder is named `package.module:Class` and built without
arguments.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of shape (len(texts), dim), float32."""
        ...


class WordLlamaEncoder:
    """WordLlama's `l2_supercat` static embeddings (256 dims), from the installed wheel."""

    dim = 256
    _WEIGHTS = "l2_supercat_256.safetensors"
    _TOKENIZER = "l2_supercat_tokenizer_config.json"

    def __init__(self) -> None:
        from importlib.metadata import version
        from importlib.resources import files

        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = files("wordllama")
        tokenizer = Tokenizer.from_file(str(root / "tokenizers" / self._TOKENIZER))
        with safe_open(str(root / "weights" / self._WEIGHTS), framework="np") as weights:
            table = weights.get_tensor("embedding.weight")
        self._model = WordLlamaInference(table, tokenizer, binary=False)
        self.name = f"wordllama-{version('wordllama')}/l2_supercat_256"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype="float32")
        # A text of unknown tokens only divides by a zero norm: NaN, here the zero vector.
        with np.errstate(invalid="ignore", divide="ignore"):
            vectors = self._model.embed(list(texts), norm=True)
        return np.nan_to_num(np.asarray(vectors, dtype="float32"), nan=0.0)


@cache
def load_encoder(spec: str) -> TextEncoder:
    """The encoder `spec` names (`wordllama` or `package.module:Class`), built once per
    process; raises naming the spec when it cannot be built or is not an encoder."""
    if spec == "wordllama":
        return WordLlamaEncoder()
    module_name, _, class_name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"text.encoder {spec!r} cannot be imported: {exc}") from exc
    encoder = cls()
    if not isinstance(encoder, TextEncoder) or int(encoder.dim) < 1:
        raise ValueError(
            f"text.encoder {spec!r} is not a TextEncoder (needs `name`, `dim` >= 1 and "
            "`encode(texts)`)"
        )
    return encoder


def encode_checked(encoder: TextEncoder, texts: Sequence[str]) -> np.ndarray:
    """`encoder.encode(texts)`, checked: one row of `dim` finite numbers per text."""
    vectors = np.asarray(encoder.encode(texts), dtype="float32")
    if vectors.shape != (len(texts), encoder.dim):
        raise ValueError(
            f"encoder {encoder.name!r} returned shape {vectors.shape}, expected "
            f"({len(texts)}, {encoder.dim})"
        )
    if not np.isfinite(vectors).all():
        raise ValueError(f"encoder {encoder.name!r} returned non-finite values")
    return vectors

"""The LLM classifier: for each text, the template filled with the label list and the
most similar stored examples, sent to an OpenAI-compatible chat completions endpoint;
the answer must be one of the labels.

An answer that names no label, or several, counts as invalid: that row gets equal
probabilities for every class (no information) and is counted, never guessed. A label
answered gets probability 1: the endpoint gives no scores, so its ranking metrics are
those of hard labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .classifiers import nearest
from .prompts import PromptTemplate


class LlmError(RuntimeError):
    """The endpoint failed or answered something that is not a chat completion."""


@dataclass
class LlmClassifier:
    """Few-shot classification through an OpenAI-compatible endpoint."""

    template: PromptTemplate
    classes: tuple[str, ...]
    base_url: str
    model: str
    # Kept out of repr: a logged or raised classifier never shows the key.
    api_key: str | None = field(default=None, repr=False)
    examples: int = 4
    timeout_seconds: float = 30.0
    invalid_answers: int = field(default=0, init=False)
    requests: int = field(default=0, init=False)

    def predict(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        store_texts: Sequence[str],
        store_labels: Sequence[str],
        store_vectors: np.ndarray,
    ) -> np.ndarray:
        """Class probabilities (n, K) in `classes` order, one request per text."""
        import httpx

        out = np.full((len(texts), len(self.classes)), 1.0 / len(self.classes))
        if not len(texts):
            return out
        chosen = (
            nearest(vectors, store_vectors, self.examples).positions
            if self.examples
            else np.zeros((len(texts), 0), dtype="int64")
        )
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = self.base_url.rstrip("/") + "/chat/completions"
        with httpx.Client(timeout=self.timeout_seconds, headers=headers) as client:
            for i, text in enumerate(texts):
                shots = [(store_texts[p], store_labels[p]) for p in chosen[i]]
                answer = self._ask(client, url, text, shots)
                code = parse_label(answer, self.classes)
                if code is None:
                    self.invalid_answers += 1
                else:
                    out[i] = 0.0
                    out[i, code] = 1.0
        return out

    def _ask(self, client: Any, url: str, text: str, shots: list[tuple[str, str]]) -> str:
        messages = self.template.render(labels=self.classes, examples=shots, text=text)
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "metadata": {
                "prompt_template": self.template.name,
                "prompt_version": self.template.version,
            },
        }
        self.requests += 1
        try:
            response = client.post(url, json=body)
        except Exception as exc:  # httpx's transport errors: name the endpoint
            raise LlmError(f"LLM endpoint {url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise LlmError(
                f"LLM endpoint {url} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            return str(response.json()["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmError(f"LLM endpoint {url} answered no chat completion: {exc}") from exc


def parse_label(answer: str, classes: Sequence[str]) -> int | None:
    """The class an answer names: the whole answer (trimmed, case-folded, surrounding
    punctuation dropped) equal to one label, else exactly one label appearing as a word."""
    cleaned = answer.strip().strip(".!\"'`*").strip().casefold()
    folded = [c.casefold() for c in classes]
    if cleaned in folded:
        return folded.index(cleaned)
    found = [i for i, c in enumerate(folded) if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", cleaned)]
    return found[0] if len(found) == 1 else None

"""The LLM classifier: for each text, the template filled with the label list and the
most similar stored examples, sent to an OpenAI-compatible chat completions endpoint;
the answer must be one of the labels.

In evaluation (`predict`), an answer that names no label, or several, counts as
invalid: that row gets equal probabilities for every class (no information) and is
counted, never guessed. A label answered gets probability 1: the endpoint gives no
scores, so its ranking metrics are those of hard labels. In serving (`label_of`), an
invalid answer is an error (`LlmAnswerError`), never a made-up label; so is a failed
exchange, as `LlmUnavailableError` when the endpoint could not be reached or did not answer
in time, as `LlmAnswerError` when it answered something else than a chat completion.
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
    """The endpoint failed or answered something that is not a chat completion.

    `reason` says what went wrong without the endpoint's address (what a client of the
    service may be told); the message names the endpoint too."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class MissingApiKeyError(ValueError):
    """The endpoint needs a key (`text.llm.api_key_env`) and none was given."""

    def __init__(self, variable: str) -> None:
        self.variable = variable
        super().__init__(
            f"the LLM endpoint needs its API key in the environment variable {variable} "
            "(text.llm.api_key_env), which is not set or empty"
        )


class LlmUnavailableError(LlmError):
    """The endpoint could not be reached or did not answer within the timeout."""


class LlmAnswerError(LlmError):
    """The endpoint answered an error status, no chat completion, or no single label."""


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
    # The variable the key comes from: a request without the key raises MissingApiKeyError.
    api_key_env: str | None = None
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
        out = np.full((len(texts), len(self.classes)), 1.0 / len(self.classes))
        if not len(texts):
            return out
        chosen = (
            nearest(vectors, store_vectors, self.examples).positions
            if self.examples
            else np.zeros((len(texts), 0), dtype="int64")
        )
        url = self._url()
        with self.client() as client:
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

    @property
    def missing_key(self) -> str | None:
        """The variable of a key the endpoint needs and this classifier lacks, if any."""
        return self.api_key_env if self.api_key_env and not self.api_key else None

    def client(self) -> Any:
        """An HTTP client for `label_of` (a context manager) with the timeout and key;
        MissingApiKeyError when the endpoint needs a key that was not given."""
        import httpx

        if self.missing_key:
            raise MissingApiKeyError(self.missing_key)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(timeout=self.timeout_seconds, headers=headers)

    def label_of(self, client: Any, text: str, shots: list[tuple[str, str]]) -> int:
        """The class code the endpoint answers for `text` with the examples `shots`
        ((text, label) pairs, most similar first); raises LlmAnswerError when the answer
        names no single label, LlmError subclasses when the exchange fails."""
        answer = self._ask(client, self._url(), text, shots)
        code = parse_label(answer, self.classes)
        if code is None:
            shown = answer.strip()[:200]
            raise LlmAnswerError(
                f"LLM answer {shown!r} names none (or several) of {', '.join(self.classes)}",
                f"its answer {shown!r} names none (or several) of the labels",
            )
        return code

    def _url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

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
        import httpx

        self.requests += 1
        try:
            response = client.post(url, json=body)
        except httpx.TimeoutException as exc:
            reason = f"no answer within {self.timeout_seconds:g} s"
            raise LlmUnavailableError(f"LLM endpoint {url}: {reason} ({exc!r})", reason) from exc
        except httpx.TransportError as exc:  # refused, reset, closed: name the endpoint
            reason = f"unreachable ({type(exc).__name__})"
            raise LlmUnavailableError(f"LLM endpoint {url} unreachable: {exc}", reason) from exc
        if response.status_code != 200:
            raise LlmAnswerError(
                f"LLM endpoint {url} answered {response.status_code}: {response.text[:200]}",
                f"it answered HTTP {response.status_code}",
            )
        try:
            return str(response.json()["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmAnswerError(
                f"LLM endpoint {url} answered no chat completion: {exc}",
                "its answer is not a chat completion",
            ) from exc


def parse_label(answer: str, classes: Sequence[str]) -> int | None:
    """The class an answer names: the whole answer (trimmed, case-folded, surrounding
    punctuation dropped) equal to one label, else exactly one label appearing as a word."""
    cleaned = answer.strip().strip(".!\"'`*").strip().casefold()
    folded = [c.casefold() for c in classes]
    if cleaned in folded:
        return folded.index(cleaned)
    found = [i for i, c in enumerate(folded) if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", cleaned)]
    return found[0] if len(found) == 1 else None

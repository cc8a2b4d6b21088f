"""The LLM classifier: for each text, the template filled with the label list and the
most similar stored examples, sent to an OpenAI-compatible chat completions endpoint;
the answer must be one of the labels.

A batch's texts are asked about with up to `concurrency` requests in flight (threads
sharing one HTTP client), the answers kept in the texts' order. In evaluation
(`predict`), an answer that names no label, or several, counts as invalid: that row gets
equal probabilities for every class (no information) and is counted, never guessed. A
label answered gets probability 1: the endpoint gives no scores, so its ranking metrics
are those of hard labels. In serving (`code_of`), an invalid answer is an error
(`LlmAnswerError`), never a made-up label; so is a failed exchange, as
`LlmUnavailableError` when the endpoint could not be reached or did not answer in time,
as `LlmAnswerError` when it answered something else than a chat completion.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .classifiers import nearest
from .prompts import PromptTemplate

# A text to classify and the examples shown with it: (text, label) pairs, most similar first.
Prompt = tuple[str, list[tuple[str, str]]]


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
    # Requests in flight at once for a batch of texts.
    concurrency: int = 1
    invalid_answers: int = field(default=0, init=False)
    requests: int = field(default=0, init=False)
    _counting: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

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
        prompts = [
            (text, [(store_texts[p], store_labels[p]) for p in chosen[i]])
            for i, text in enumerate(texts)
        ]
        with self.client() as client:
            answers = self.ask_all(client, prompts)
        for i, answer in enumerate(answers):
            code = parse_label(answer, self.classes)
            if code is None:
                self.invalid_answers += 1
            else:
                out[i] = 0.0
                out[i, code] = 1.0
        return out

    def ask_all(self, client: Any, prompts: Sequence[Prompt]) -> list[str]:
        """The endpoint's answers to `prompts` ((text, shots) pairs), in their order, with at
        most `concurrency` requests in flight. The first failure in that order is raised
        once the requests already sent have ended; the ones not yet sent are not sent."""
        url = self._url()
        if self.concurrency <= 1 or len(prompts) <= 1:
            return [self._ask(client, url, text, shots) for text, shots in prompts]
        workers = min(self.concurrency, len(prompts))
        with ThreadPoolExecutor(workers, thread_name_prefix="llm-request") as pool:
            futures = [pool.submit(self._ask, client, url, text, shots) for text, shots in prompts]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    @property
    def missing_key(self) -> str | None:
        """The variable of a key the endpoint needs and this classifier lacks, if any."""
        return self.api_key_env if self.api_key_env and not self.api_key else None

    def client(self) -> Any:
        """An HTTP client for `ask_all` (a context manager) with the timeout and key;
        MissingApiKeyError when the endpoint needs a key that was not given."""
        import httpx

        if self.missing_key:
            raise MissingApiKeyError(self.missing_key)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(timeout=self.timeout_seconds, headers=headers)

    def code_of(self, answer: str) -> int:
        """The class code `answer` names; LlmAnswerError when it names none or several."""
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

        with self._counting:
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

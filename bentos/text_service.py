"""A text pipeline's champion as a BentoML 1.4 service.

The served model is a BentoML model holding a verified text bundle (see
`ml_assets.lib.text.bundle`): the classifier, the example store's ids, labels and vectors,
the pipeline config. The bento argument `model` names it, as for the tabular champion
service (`bentoml build ... --arg model=<name:version>`, or `bentoml serve
bentos.text_service:TextService --arg model=<name:version>`). `/predict` takes texts and
answers, per text, the label, its probability, every class's probability and the ids of
the nearest stored examples (the evidence the embedding space offers for the answer).

An LLM champion (family `llm_few_shot`) is served from its bundle's template and endpoint:
each text is sent with its most similar stored examples to the OpenAI-compatible endpoint
and the answer must be one label; `prompt_examples` names the examples the prompt showed,
and the probability is 1.0 for the label named (the endpoint gives no probabilities; see
`ml_assets.lib.text.bundle`). The endpoint's API key is read once, when the service
starts, from the environment variable the bundle names (`text.llm.api_key_env`); the bento
holds the variable's name, never the key. Without it the service stays up and is never
ready, and /predict answers 503 naming the variable. An endpoint that cannot be reached
or times out gives 503, an answer that is not one label (or not a chat completion, or an
error status) 502: never a 500, never a made-up label; the service stays ready.

Answered requests go to the inference log when the server is given a lake
(`MLAP_INFERENCE_LOG_URL`, as for the tabular service; `mlap serve` passes its lake): one
row per text with its label, score, example ids, model version and latency, in daily
files (`ml_assets.lib.text.served_log`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, Field, StringConstraints
from starlette.responses import JSONResponse

from bentos.experiment_setup import BentoArguments
from bentos.guards import SCORING_STATUSES, guard
from bentos.image import serving_image
from bentos.inference_log import InferenceLog, Part, worker_log
from bentos.io_specs import api_with_brief_refusals
from bentos.observability import scoring_metrics
from bentos.openapi import LLM_RESPONSES
from ml_assets.lib.config.models import PipelineConfig
from ml_assets.lib.text.bundle import BUNDLE_FILE, CONFIG_FILE, REGISTERED_FILE, TextScorer
from ml_assets.lib.text.llm import LlmAnswerError, LlmUnavailableError, MissingApiKeyError
from ml_assets.lib.text.served_log import text_log_frame, text_request_rows

logger = logging.getLogger("bentoml.service.text")

TIMEOUT_SECONDS = 30
MAX_TEXT_CHARS = 10_000


def _arguments() -> BentoArguments:
    try:
        return bentoml.use_arguments(BentoArguments)
    except bentoml.exceptions.InvalidArgument as exc:
        raise bentoml.exceptions.InvalidArgument(
            "bentos.text_service needs the BentoML model it serves, as the bento argument "
            "`model`: `bentoml serve bentos.text_service:TextService --arg model=<name:version>`"
            f" ({exc})"
        ) from exc


MODEL_TAG = _arguments().model
_BUNDLE = Path(bentoml.models.get(MODEL_TAG).path)
_CONFIG = PipelineConfig.model_validate_json((_BUNDLE / CONFIG_FILE).read_text())
_DOCUMENT: dict[str, Any] = json.loads((_BUNDLE / BUNDLE_FILE).read_text())
# The registered version of the bundle (written beside it when it was copied from MLflow).
if (_BUNDLE / REGISTERED_FILE).is_file():
    _DOCUMENT |= json.loads((_BUNDLE / REGISTERED_FILE).read_text())
# An LLM champion's template and endpoint (no key: only its variable's name).
_LLM: dict[str, Any] | None = _DOCUMENT.get("llm")
SCORE = (
    "1.0 for the label the LLM endpoint named, 0 for the others: it gives no "
    "probabilities; the same as when the candidate was compared"
    if _LLM is not None
    else "the classifier's probability of the label"
)

Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S"),
    Field(description="A text to classify (not blank).", examples=["Make America great!"]),
]


class NearestExample(BaseModel):
    example_id: str = Field(description="Id of a stored example (the source's primary key).")
    label: str = Field(description="Its class.")
    similarity: float = Field(description="Cosine similarity of its vector to the text's.")


class TextPrediction(BaseModel):
    label: str = Field(description="The most probable class.", examples=["android"])
    probability: float = Field(
        description="Its probability (an LLM champion: 1.0, the label it named; it gives no "
        "probabilities).",
        ge=0,
        le=1,
    )
    probabilities: dict[str, float] = Field(description="Every class's probability.")
    nearest_examples: list[NearestExample] = Field(
        description="The most similar stored examples, most similar first."
    )
    prompt_examples: list[str] | None = Field(
        None,
        description="An LLM champion: ids of the stored examples its prompt showed, most "
        "similar first (null for other models).",
    )
    model_version: str = Field(description="Version of the served model.")


@bentoml.service(
    name=_CONFIG.name,
    workers=_CONFIG.serving.workers,
    traffic={"timeout": TIMEOUT_SECONDS, "max_concurrency": 64},
    image=serving_image(extra=("wordllama", "safetensors", "tokenizers")),
)
class TextService:
    """Classifies texts with a text pipeline's champion: label, probability, class
    probabilities and the ids of the nearest stored examples."""

    bundle = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.scorer: TextScorer | None = None
        self.problem: str | None = None
        self.inference_log: InferenceLog | None = None
        self.metrics = scoring_metrics()
        variable = (_LLM or {}).get("api_key_env")
        # The LLM endpoint's key, read once at start-up and kept by the scorer only.
        api_key = os.environ.get(variable) if variable else None
        scorer = TextScorer.from_bundle(Path(self.bundle.path), api_key=api_key)
        if scorer.llm is not None and scorer.llm.missing_key:  # stay up, never ready
            problem = MissingApiKeyError(scorer.llm.missing_key)
            self.problem = f"the model is not loaded: {problem}"
            logger.error("text champion not loaded, /readyz will fail: %s", problem)
        else:
            self.scorer = scorer
            self.inference_log = worker_log(
                _CONFIG, self.metrics, text_log_frame, error_rows_of=text_request_rows
            )

    def __is_ready__(self) -> bool:
        return self.scorer is not None

    @api_with_brief_refusals
    def predict(
        self,
        texts: Annotated[
            list[Text], Field(min_length=1, max_length=_CONFIG.serving.max_batch_size)
        ],
    ) -> list[TextPrediction]:
        """One prediction per text, in order. An LLM champion: 503 when its endpoint
        cannot be reached or times out, 502 when it answers no single label."""
        if self.scorer is None:
            return _refused(503, str(self.problem))
        started = time.perf_counter()
        try:
            answers = self.scorer.predict(texts)
        except LlmUnavailableError as exc:
            message = f"the LLM endpoint is unavailable: {exc.reason}; retry later"
            return self._failed(started, texts, 503, message, exc)
        except LlmAnswerError as exc:
            message = f"the LLM endpoint gave no usable answer: {exc.reason}"
            return self._failed(started, texts, 502, message, exc)
        predictions = [TextPrediction(**answer) for answer in answers]
        if self.inference_log is not None:
            version = self.scorer.model_version
            part = Part("champion", version, MODEL_TAG, len(texts), texts, None, predictions)
            self.inference_log.append_parts(uuid.uuid4().hex, "/predict", started, [part])
        return predictions

    def _failed(
        self, started: float, texts: list[str], status: int, message: str, exc: Exception
    ) -> Any:
        """The answer to a request the champion could not answer (its LLM endpoint failed):
        logged under an error id, counted on /metrics (`mlap_failed_requests`) and written
        to the errors files beside the inference log, as the tabular service does."""
        assert self.scorer is not None
        error_id = uuid.uuid4().hex[:12]
        logger.warning("error_id=%s: /predict: %s", error_id, exc)
        version = self.scorer.model_version
        self.metrics.failed.labels(route="/predict", model_version=version).inc()
        if self.inference_log is not None:
            part = Part("champion", version, MODEL_TAG, len(texts), texts, None, None)
            self.inference_log.append_failure(
                uuid.uuid4().hex, "/predict", started, part, status, error_id
            )
        return _refused(status, message)

    @bentoml.on_shutdown
    def flush_inference_log(self) -> None:
        """A clean shutdown writes what the inference log still buffers."""
        if self.inference_log is not None:
            self.inference_log.close()

    @bentoml.api
    def metadata(self) -> dict[str, Any]:
        """What is served: pipeline, model version, family, encoder, classes, the example
        store version, what `probability` means and, for an LLM champion, its template
        (name, version) and endpoint (base URL, model, timeout, examples per prompt, the
        API key's variable)."""
        keys = ("version", "family", "encoder", "classes", "example_store_version")
        found = {"pipeline": _CONFIG.name, **{k: _DOCUMENT.get(k) for k in keys}, "score": SCORE}
        if _LLM is not None:
            found["llm"] = _LLM
        if self.problem is not None:
            found["problem"] = self.problem
        return found


def _refused(status: int, message: str) -> Any:
    """The JSON error answer (bentos.openapi's body: `error`) of a request not scored."""
    return JSONResponse({"error": message}, status_code=status)


# The champion service's middlewares: the API key (`serving.api_key_env`), JSON only, the
# body limit, no repeated keys, and the error statuses in the OpenAPI document.
# An LLM champion adds 502 (no usable answer) and says more under 503 (bentos.openapi).
guard(
    TextService,
    _CONFIG.serving,
    scoring=("/predict",),
    others=("/metadata",),
    scoring_statuses=sorted({*SCORING_STATUSES, 502}) if _LLM is not None else SCORING_STATUSES,
    described=LLM_RESPONSES if _LLM is not None else None,
)

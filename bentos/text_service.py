"""A text pipeline's champion as a BentoML 1.4 service.

The served model is a BentoML model holding a verified text bundle (see
`ml_assets.lib.text.bundle`): the classifier, the example store's ids, labels and vectors,
the pipeline config. The bento argument `model` names it, as for the tabular champion
service (`bentoml build ... --arg model=<name:version>`, or `bentoml serve
bentos.text_service:TextService --arg model=<name:version>`). `/predict` takes texts and
answers, per text, the label, its probability, every class's probability and the ids of
the nearest stored examples (the evidence the embedding space offers for the answer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import BaseModel, Field, StringConstraints

from bentos.experiment_setup import BentoArguments
from bentos.guards import guard
from bentos.image import serving_image
from ml_assets.lib.config.models import PipelineConfig
from ml_assets.lib.text.bundle import BUNDLE_FILE, CONFIG_FILE, REGISTERED_FILE, TextScorer

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
    probability: float = Field(description="Its probability.", ge=0, le=1)
    probabilities: dict[str, float] = Field(description="Every class's probability.")
    nearest_examples: list[NearestExample] = Field(
        description="The most similar stored examples, most similar first."
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
        self.scorer = TextScorer.from_bundle(Path(self.bundle.path))

    @bentoml.api
    def predict(
        self,
        texts: Annotated[
            list[Text], Field(min_length=1, max_length=_CONFIG.serving.max_batch_size)
        ],
    ) -> list[TextPrediction]:
        """One prediction per text, in order."""
        return [TextPrediction(**answer) for answer in self.scorer.predict(texts)]

    @bentoml.api
    def metadata(self) -> dict[str, Any]:
        """What is served: pipeline, model version, family, encoder, classes and the
        example store version."""
        keys = ("version", "family", "encoder", "classes", "example_store_version")
        return {"pipeline": _CONFIG.name, **{k: _DOCUMENT.get(k) for k in keys}}


# The champion service's middlewares: the API key (`serving.api_key_env`), JSON only, the
# body limit, no repeated keys, and the error statuses in the OpenAPI document.
guard(TextService, _CONFIG.serving, scoring=("/predict",), others=("/metadata",))

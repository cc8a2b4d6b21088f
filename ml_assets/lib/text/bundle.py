"""A text model's serving bundle, verified before use, and the scorer that serves it.

The folder holds `model/` (the fitted classifier as verified artifacts: skops, sha256 in
its manifest), `examples.parquet` (the example store's ids, labels and texts) and
`embeddings.npy` (their unit vectors, float32, read without pickles), `pipeline_config.json`
and `text_bundle.json` (family, encoder, classes, example store version and the sha256 of
the two example files). Loading checks every hash before reading a byte of data, and
refuses a bundle whose encoder is not the one configured (other vectors, other space).

An LLM champion (family `llm_few_shot`) has no `model/`: its bundle holds the prompt
template file instead and the endpoint in the document (`ml_assets.lib.text.llm_bundle`);
it is scored by sending each text with its most similar stored examples to the endpoint.
Its `probability` (the score) is 1.0 for the label the endpoint named and 0 for the
others: the endpoint gives no probabilities, and this is how the candidate was scored
when it was compared, so served answers and evaluation agree. It says that the answer
was a valid label, not how likely it is to be right. An answer that is not exactly one
label raises (`LlmAnswerError`): no label is ever made up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.artifacts import ArtifactIntegrityError, LoadedModel, load_model, save_model
from ml_assets.lib.config.models import PipelineConfig, TextClassificationTarget, TextConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.features import EVENT_DATE

from .classifiers import class_probabilities, model_input, nearest
from .encoders import TextEncoder, encode_checked, load_encoder
from .examples import EXAMPLE_ID, LABEL, TEXT
from .llm import LlmClassifier
from .llm_bundle import LLM_FAMILY, PROMPT_FILE, classifier_from_bundle, write_llm_part

MODEL_DIR = "model"
EXAMPLES_FILE = "examples.parquet"
EMBEDDINGS_FILE = "embeddings.npy"
CONFIG_FILE = "pipeline_config.json"
BUNDLE_FILE = "text_bundle.json"
# Written beside a registered bundle's verified files when it is copied for serving: the
# registry's version of those files (a bundle is logged before it has a version).
REGISTERED_FILE = "registered.json"


def write_text_bundle(
    folder: Path,
    *,
    model: Any,
    family: str,
    config: PipelineConfig,
    encoder_name: str,
    examples: pd.DataFrame,
    embeddings: np.ndarray,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Lay out the bundle in `folder` (new); the bundle document it wrote. The LLM family
    takes no `model` (None): its template and endpoint come from `config.text.llm`."""
    target = config.target
    if not isinstance(target, TextClassificationTarget):
        raise TypeError("a text bundle needs a text_classification pipeline")
    if len(examples) != len(embeddings):
        raise ValueError(f"{len(examples)} examples but {len(embeddings)} embedding rows")
    if (family == LLM_FAMILY) != (model is None):
        raise ValueError(f"family {family}: a model is needed by every family but {LLM_FAMILY}")
    folder.mkdir(parents=True)
    document = {**metadata, "family": family, "encoder": encoder_name}
    files = [EXAMPLES_FILE, EMBEDDINGS_FILE]
    if model is not None:
        spec = FeatureSpec(label=target.name, numeric=[])
        document["manifest_sha256"] = save_model(model, spec, folder / MODEL_DIR).manifest_sha256
    else:
        text = config.text or TextConfig()
        if text.llm is None:
            raise ValueError(f"family {LLM_FAMILY} needs text.llm in the pipeline config")
        document["llm"] = write_llm_part(folder, text.llm, text.prompts)
        files.append(PROMPT_FILE)
    kept = [EXAMPLE_ID, LABEL, TEXT] + ([EVENT_DATE] if EVENT_DATE in examples else [])
    examples[kept].to_parquet(folder / EXAMPLES_FILE, index=False)
    np.save(folder / EMBEDDINGS_FILE, np.asarray(embeddings, dtype="float32"), allow_pickle=False)
    (folder / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    document["files"] = {name: _sha256(folder / name) for name in files}
    (folder / BUNDLE_FILE).write_text(json.dumps(document, indent=2, sort_keys=True, default=str))
    return document


@dataclass
class TextScorer:
    """Scores texts with a verified bundle: the label, its probability, every class's
    probability, and the nearest stored examples (ids, labels, cosine similarity); with
    an LLM bundle, also the ids of the examples its prompt showed."""

    config: PipelineConfig
    loaded: LoadedModel | None
    encoder: TextEncoder
    examples: pd.DataFrame
    embeddings: np.ndarray
    document: dict[str, Any]
    model_tag: str = ""  # the BentoML model holding the bundle, when loaded from the store
    llm: LlmClassifier | None = None

    @classmethod
    def from_bundle(
        cls,
        folder: Path,
        encoder: TextEncoder | None = None,
        model_tag: str = "",
        api_key: str | None = None,
    ) -> TextScorer:
        """The verified bundle in `folder`; `api_key` is the LLM endpoint's key, for an
        LLM bundle whose endpoint needs one (without it, scoring raises
        MissingApiKeyError naming the variable: `llm.missing_key`)."""
        document = verify_text_bundle(folder)
        loaded, llm = None, None
        if document["family"] == LLM_FAMILY:
            llm = classifier_from_bundle(folder, document["llm"], document["classes"], api_key)
        else:
            loaded = load_model(folder / MODEL_DIR, document["manifest_sha256"])
        registered = folder / REGISTERED_FILE
        if registered.is_file():
            document = {**document, **json.loads(registered.read_text())}
        config = PipelineConfig.model_validate_json((folder / CONFIG_FILE).read_text())
        encoder = encoder or load_encoder((config.text or TextConfig()).encoder)
        if encoder.name != document["encoder"]:
            raise ValueError(
                f"the bundle's vectors come from {document['encoder']!r}, the configured "
                f"encoder is {encoder.name!r}"
            )
        embeddings = np.load(folder / EMBEDDINGS_FILE, allow_pickle=False)
        examples = pd.read_parquet(folder / EXAMPLES_FILE)
        return cls(config, loaded, encoder, examples, embeddings, document, model_tag, llm)

    @property
    def classes(self) -> list[str]:
        return list(self.document["classes"])

    @property
    def model_version(self) -> str:
        return str(self.document.get("version", "unknown"))

    def reference_classes(self) -> list[str]:
        """The champion's class of each stored example, for the drift reference. An LLM
        is not asked: each example would sit in its own prompt as the most similar one,
        and a request per stored example is what a day of traffic costs many times over;
        its stored label stands in for the answer."""
        if self.llm is not None:
            return self.examples[LABEL].astype(str).tolist()
        return self.classes_of(self.examples[TEXT].astype(str).tolist(), self.embeddings)

    def evaluate(self, texts: Sequence[str]) -> np.ndarray:
        """(n, K) class probabilities as candidates are compared: an LLM answer that names
        no single label gives equal probabilities (counted in `llm.invalid_answers`)
        instead of raising; a failed exchange still raises."""
        vectors = encode_checked(self.encoder, list(texts))
        if self.llm is None:
            return self._probabilities(list(texts), vectors)
        store_texts = self.examples[TEXT].astype(str).tolist()
        labels = self.examples[LABEL].astype(str).tolist()
        return self.llm.predict(list(texts), vectors, store_texts, labels, self.embeddings)

    def classes_of(self, texts: Sequence[str], vectors: np.ndarray) -> list[str]:
        """The most probable class of each text whose vectors are already known."""
        proba = self._probabilities(list(texts), vectors)
        return [self.classes[i] for i in proba.argmax(axis=1)]

    def predict(self, texts: Sequence[str], k: int | None = None) -> list[dict[str, Any]]:
        """One answer per text, in order. Raises on an empty or blank text; with an LLM
        bundle, `LlmError` subclasses when the endpoint fails or answers no label."""
        blank = [i for i, text in enumerate(texts) if not str(text).strip()]
        if blank:
            raise ValueError(f"text {blank[0]} is empty: there is nothing to classify")
        k = k or (self.config.text or TextConfig()).neighbours
        vectors = encode_checked(self.encoder, list(texts))
        shots = self.llm.examples if self.llm is not None else 0
        found = nearest(vectors, self.embeddings, max(k, shots))
        proba = self._probabilities(list(texts), vectors, found.positions)
        ids = self.examples[EXAMPLE_ID].astype(str).to_numpy()
        labels = self.examples[LABEL].astype(str).to_numpy()
        answers = []
        for row, positions, similarities in zip(
            proba, found.positions, found.similarities, strict=True
        ):
            best = int(row.argmax())
            answer = {
                "label": self.classes[best],
                "probability": float(row[best]),
                "probabilities": dict(zip(self.classes, map(float, row), strict=True)),
                "nearest_examples": [
                    {"example_id": ids[p], "label": labels[p], "similarity": float(s)}
                    for p, s in zip(positions[:k], similarities[:k], strict=True)
                ],
                "model_version": self.model_version,
            }
            if self.llm is not None:
                answer["prompt_examples"] = [str(ids[p]) for p in positions[:shots]]
            answers.append(answer)
        return answers

    def _probabilities(
        self, texts: list[str], vectors: np.ndarray, positions: np.ndarray | None = None
    ) -> np.ndarray:
        """(n, K) class probabilities: the classifier's, or the LLM's one-hot answers
        (its prompts showing the stored examples at `positions`, most similar first)."""
        if self.loaded is not None:
            family = self.document["family"]
            return class_probabilities(
                self.loaded.model, model_input(family, texts, vectors), len(self.classes)
            )
        assert self.llm is not None
        shots = self.llm.examples
        if positions is None:
            positions = nearest(vectors, self.embeddings, max(shots, 1)).positions
        store = list(
            zip(self.examples[TEXT].astype(str), self.examples[LABEL].astype(str), strict=True)
        )
        prompts = [(text, [store[p] for p in positions[i][:shots]]) for i, text in enumerate(texts)]
        with self.llm.client() as client:
            answers = self.llm.ask_all(client, prompts)
        out = np.zeros((len(texts), len(self.classes)))
        for i, answer in enumerate(answers):
            out[i, self.llm.code_of(answer)] = 1.0
        return out


def bundle_sha256(folder: Path) -> str:
    """The bundle's identity: sha256 of its document, which holds the classifier's manifest
    hash and the hash of each example file (what the registry records as its manifest)."""
    return _sha256(folder / BUNDLE_FILE)


def verify_text_bundle(folder: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    """The bundle document, after checking it (against `expected_sha256` when given), the
    example files and the classifier's files against their hashes; raises
    ArtifactIntegrityError naming the first file that differs."""
    from ml_assets.lib.artifacts import verify_folder

    if expected_sha256 is not None and bundle_sha256(folder) != expected_sha256:
        actual = bundle_sha256(folder)
        raise ArtifactIntegrityError(
            BUNDLE_FILE,
            expected_sha256,
            actual,
            f"{BUNDLE_FILE} in {folder} has sha256 {actual}, expected {expected_sha256}",
        )
    document: dict[str, Any] = json.loads((folder / BUNDLE_FILE).read_text())
    for name, expected in document["files"].items():
        actual = _sha256(folder / name)
        if actual != expected:
            raise ArtifactIntegrityError(
                name,
                expected,
                actual,
                f"{name} in {folder} has sha256 {actual}, expected {expected}",
            )
    if document["family"] == LLM_FAMILY:
        if PROMPT_FILE not in document["files"] or "llm" not in document:
            raise ArtifactIntegrityError(
                PROMPT_FILE, "", "", f"the LLM bundle in {folder} records no prompt or endpoint"
            )
    else:
        verify_folder(folder / MODEL_DIR, document["manifest_sha256"])
    return document


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

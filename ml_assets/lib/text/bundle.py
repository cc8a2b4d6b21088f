"""A text model's serving bundle, verified before use, and the scorer that serves it.

The folder holds `model/` (the fitted classifier as verified artifacts: skops, sha256 in
its manifest), `examples.parquet` (the example store's ids, labels and texts) and
`embeddings.npy` (their unit vectors, float32, read without pickles), `pipeline_config.json`
and `text_bundle.json` (family, encoder, classes, example store version and the sha256 of
the two example files). Loading checks every hash before reading a byte of data, and
refuses a bundle whose encoder is not the one configured (other vectors, other space).
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
    """Lay out the bundle in `folder` (new); the bundle document it wrote."""
    target = config.target
    if not isinstance(target, TextClassificationTarget):
        raise TypeError("a text bundle needs a text_classification pipeline")
    if len(examples) != len(embeddings):
        raise ValueError(f"{len(examples)} examples but {len(embeddings)} embedding rows")
    folder.mkdir(parents=True)
    manifest = save_model(model, FeatureSpec(label=target.name, numeric=[]), folder / MODEL_DIR)
    kept = [EXAMPLE_ID, LABEL, TEXT] + ([EVENT_DATE] if EVENT_DATE in examples else [])
    examples[kept].to_parquet(folder / EXAMPLES_FILE, index=False)
    np.save(folder / EMBEDDINGS_FILE, np.asarray(embeddings, dtype="float32"), allow_pickle=False)
    (folder / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    document = {
        **metadata,
        "family": family,
        "encoder": encoder_name,
        "manifest_sha256": manifest.manifest_sha256,
        "files": {name: _sha256(folder / name) for name in (EXAMPLES_FILE, EMBEDDINGS_FILE)},
    }
    (folder / BUNDLE_FILE).write_text(json.dumps(document, indent=2, sort_keys=True, default=str))
    return document


@dataclass
class TextScorer:
    """Scores texts with a verified bundle: the label, its probability, every class's
    probability, and the nearest stored examples (ids, labels, cosine similarity)."""

    config: PipelineConfig
    loaded: LoadedModel
    encoder: TextEncoder
    examples: pd.DataFrame
    embeddings: np.ndarray
    document: dict[str, Any]
    model_tag: str = ""  # the BentoML model holding the bundle, when loaded from the store

    @classmethod
    def from_bundle(
        cls, folder: Path, encoder: TextEncoder | None = None, model_tag: str = ""
    ) -> TextScorer:
        document = verify_text_bundle(folder)
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
        return cls(config, loaded, encoder, examples, embeddings, document, model_tag)

    @property
    def classes(self) -> list[str]:
        return list(self.document["classes"])

    @property
    def model_version(self) -> str:
        return str(self.document.get("version", "unknown"))

    def classes_of(self, texts: Sequence[str], vectors: np.ndarray) -> list[str]:
        """The most probable class of each text whose vectors are already known."""
        family = self.document["family"]
        proba = class_probabilities(
            self.loaded.model, model_input(family, list(texts), vectors), len(self.classes)
        )
        return [self.classes[i] for i in proba.argmax(axis=1)]

    def predict(self, texts: Sequence[str], k: int | None = None) -> list[dict[str, Any]]:
        """One answer per text, in order. Raises on an empty or blank text."""
        blank = [i for i, text in enumerate(texts) if not str(text).strip()]
        if blank:
            raise ValueError(f"text {blank[0]} is empty: there is nothing to classify")
        k = k or (self.config.text or TextConfig()).neighbours
        vectors = encode_checked(self.encoder, list(texts))
        family = self.document["family"]
        proba = class_probabilities(
            self.loaded.model, model_input(family, list(texts), vectors), len(self.classes)
        )
        found = nearest(vectors, self.embeddings, k)
        ids = self.examples[EXAMPLE_ID].astype(str).to_numpy()
        labels = self.examples[LABEL].astype(str).to_numpy()
        answers = []
        for row, positions, similarities in zip(
            proba, found.positions, found.similarities, strict=True
        ):
            best = int(row.argmax())
            answers.append(
                {
                    "label": self.classes[best],
                    "probability": float(row[best]),
                    "probabilities": dict(zip(self.classes, map(float, row), strict=True)),
                    "nearest_examples": [
                        {"example_id": ids[p], "label": labels[p], "similarity": float(s)}
                        for p, s in zip(positions, similarities, strict=True)
                    ],
                    "model_version": self.model_version,
                }
            )
        return answers


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
    verify_folder(folder / MODEL_DIR, document["manifest_sha256"])
    return document


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

"""Model artifacts without pickles: saved in a folder, hashed, verified before loading.

A model folder holds the model file (XGBoost's own UBJSON format, or skops for anything
scikit-learn), `feature_spec.json` and `manifest.json`. The manifest lists the sha256 of
every other file; its own sha256 is what a registry records, so a loader given that hash
trusts nothing in the folder it has not checked. Hashes are verified before any byte of a
model is deserialised, and skops loads only types from an explicit allow-list.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .feature_spec import FeatureSpec
from .untrusted import (
    TRUSTED_MODULES,
    TRUSTED_NAMES,
    UntrustedModelError,
    contains_pickle,
    is_trusted_type,
    load_skops,
)

__all__ = [
    "TRUSTED_MODULES",
    "TRUSTED_NAMES",
    "UntrustedModelError",
    "contains_pickle",
    "is_trusted_type",
]

logger = logging.getLogger(__name__)

Flavor = Literal["xgboost", "sklearn"]

MANIFEST_FILE = "manifest.json"
SPEC_FILE = "feature_spec.json"
MODEL_FILES: dict[str, str] = {"xgboost": "model.ubj", "sklearn": "model.skops"}


class ArtifactIntegrityError(ValueError):
    """A model folder does not match its manifest: a file is missing or was changed."""

    def __init__(self, file: str, expected: str | None, actual: str | None, message: str) -> None:
        super().__init__(message)
        self.file = file
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class ModelManifest:
    """What `manifest.json` says, plus the sha256 of `manifest.json` itself."""

    flavor: Flavor
    files: dict[str, str]
    manifest_sha256: str
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # XGBoost only: the scikit-learn wrapper of the booster (a classifier before regressors).
    estimator: Literal["classifier", "regressor"] = "classifier"

    @property
    def model_file(self) -> str:
        return MODEL_FILES[self.flavor]


@dataclass(frozen=True)
class LoadedModel:
    """A verified model with the feature spec it was trained on."""

    model: Any
    spec: FeatureSpec
    manifest: ModelManifest


def model_flavor(model: Any) -> Flavor:
    """How a model is saved: XGBoost's own format for an XGBoost classifier or regressor,
    else skops."""
    from sklearn.base import BaseEstimator
    from xgboost import XGBModel

    # XGBoost's estimators are also BaseEstimators, so they are tested first.
    if isinstance(model, XGBModel):
        return "xgboost"
    if isinstance(model, BaseEstimator):
        return "sklearn"
    raise TypeError(f"cannot save a {type(model).__module__}.{type(model).__qualname__}")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that write and read model files."""
    found = {"python": platform.python_version()}
    for dist in ("xgboost", "scikit-learn", "skops", "numpy"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "not installed"
    return found


def save_model(
    model: Any, spec: FeatureSpec, folder: Path, *, extra: dict[str, Any] | None = None
) -> ModelManifest:
    """Write model, feature spec and manifest into `folder`; the manifest is written last.

    Each file is written to a temporary name and renamed, so a killed run leaves no
    half-written file under a final name, and a folder without a manifest never loads.
    `extra` must be JSON-serialisable (run ids, metrics, data versions).
    """
    flavor = model_flavor(model)
    folder.mkdir(parents=True, exist_ok=True)
    model_file = MODEL_FILES[flavor]
    target = folder / model_file
    # The temporary name keeps the suffix: XGBoost picks its format from the extension.
    tmp = folder / f".tmp-{os.getpid()}-{model_file}"
    if flavor == "xgboost":
        model.save_model(tmp)
    else:
        import skops.io as sio

        sio.dump(model, tmp)
    tmp.replace(target)
    _write_atomic(folder / SPEC_FILE, spec.to_json().encode())

    files = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in (model_file, SPEC_FILE)
    }
    document = {
        "format_version": 1,
        "flavor": flavor,
        "model_file": model_file,
        "spec_file": SPEC_FILE,
        "files": files,
        "versions": library_versions(),
        "extra": extra or {},
    }
    if flavor == "xgboost":
        # Which scikit-learn wrapper loads the booster back: the file holds only the trees.
        document["estimator"] = "regressor" if _is_regressor(model) else "classifier"
    payload = json.dumps(document, indent=2, sort_keys=True).encode()
    _write_atomic(folder / MANIFEST_FILE, payload)
    return _manifest_from(document, hashlib.sha256(payload).hexdigest())


def verify_folder(
    folder: Path, expected_manifest_sha256: str | None = None
) -> tuple[ModelManifest, dict[str, bytes]]:
    """Check the manifest and every file it lists; return the manifest and the checked bytes.

    Raises ArtifactIntegrityError naming the first missing or changed file.
    """
    manifest = read_manifest(folder, expected_manifest_sha256)
    payloads = {name: _read_checked(folder, name, sha) for name, sha in manifest.files.items()}
    return manifest, payloads


def load_model(folder: Path, expected_manifest_sha256: str | None = None) -> LoadedModel:
    """Verify every hash, then load the model and its feature spec."""
    manifest, payloads = verify_folder(folder, expected_manifest_sha256)
    dist = "xgboost" if manifest.flavor == "xgboost" else "scikit-learn"
    if manifest.versions.get(dist, version(dist)) != version(dist):
        logger.warning("%s was saved with %s %s", folder, dist, manifest.versions[dist])
    spec = FeatureSpec.from_json(payloads[SPEC_FILE].decode())
    # The bytes deserialised are the bytes hashed: no window to swap a file in between.
    payload = payloads[manifest.model_file]
    if manifest.flavor == "xgboost":
        from xgboost import XGBClassifier, XGBRegressor

        wrapper = XGBRegressor if manifest.estimator == "regressor" else XGBClassifier
        model: Any = wrapper()
        model.load_model(bytearray(payload))
    else:
        model = load_skops(payload, folder / manifest.model_file)
    return LoadedModel(model=model, spec=spec, manifest=manifest)


def predict_proba(loaded: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class for each row, after the spec's matrix."""
    matrix = loaded.spec.matrix(frame)
    if matrix.empty:
        return np.empty(0, dtype="float64")
    model = loaded.model
    # XGBClassifier.predict_proba goes through Booster.inplace_predict for pandas input;
    # it is used here so both flavors share one code path and one column choice.
    proba = np.asarray(model.predict_proba(matrix), dtype="float64")
    classes = list(getattr(model, "classes_", [0, 1]))
    positive = [i for i, c in enumerate(classes) if c == 1]
    if len(positive) != 1 or proba.ndim != 2:
        raise ValueError(f"model is not a binary 0/1 classifier (classes: {classes})")
    return proba[:, positive[0]]


def _read_checked(folder: Path, name: str, expected: str | None) -> bytes:
    path = folder / name
    if not path.is_file():
        raise ArtifactIntegrityError(name, expected, None, f"{name} is missing from {folder}")
    payload = path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if expected is not None and actual != expected:
        raise ArtifactIntegrityError(
            name, expected, actual, f"{name} in {folder} has sha256 {actual}, expected {expected}"
        )
    return payload


def read_manifest(folder: Path, expected: str | None = None) -> ModelManifest:
    """Read `manifest.json` and check its sha256 (if `expected`), without loading a model."""
    payload = _read_checked(folder, MANIFEST_FILE, expected)
    try:
        manifest = _manifest_from(json.loads(payload), hashlib.sha256(payload).hexdigest())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactIntegrityError(
            MANIFEST_FILE,
            expected,
            None,
            f"{folder / MANIFEST_FILE} is not a valid manifest: {exc}",
        ) from exc
    return manifest


def _write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_bytes(payload)
    tmp.replace(path)


def _manifest_from(document: dict[str, Any], manifest_sha256: str) -> ModelManifest:
    flavor = document["flavor"]
    if flavor not in MODEL_FILES:
        raise ValueError(f"unknown flavor {flavor!r}")
    files = {str(k): str(v) for k, v in document["files"].items()}
    unsafe = [name for name in files if Path(name).name != name or name == MANIFEST_FILE]
    if unsafe:
        raise ValueError(f"file names must be plain names in the folder: {unsafe}")
    unlisted = [name for name in (MODEL_FILES[flavor], SPEC_FILE) if name not in files]
    if unlisted:
        raise ValueError(f"no sha256 listed for {', '.join(unlisted)}")
    return ModelManifest(
        flavor=flavor,
        files=files,
        manifest_sha256=manifest_sha256,
        versions=dict(document.get("versions", {})),
        extra=dict(document.get("extra", {})),
        estimator="regressor" if document.get("estimator") == "regressor" else "classifier",
    )


def _is_regressor(model: Any) -> bool:
    from sklearn.base import is_regressor

    return bool(is_regressor(model))

"""A served bundle that loads and verifies but fails every request: the injected bad model
of the rollback proofs (`rollback_http.py`, tests/test_experiment_served.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from ml_assets.lib.artifacts import load_model, save_model
from ml_assets.lib.scoring import METADATA_FILE, MODEL_DIR

MISSING_FEATURE = "no_such_feature"


def import_broken_copy(
    store: Any, source_tag: str, broken_tag: str, scratch: Path, pipeline: str
) -> str:
    """Copy the bundle of `source_tag` into `scratch`, make its feature spec name a feature
    the pipeline never makes (`MISSING_FEATURE`), save the model files again so that every
    hash verifies, and import it into the BentoML store `store` as `broken_tag`."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(store.bundle_path(source_tag), scratch)
    loaded = load_model(scratch / MODEL_DIR)
    shutil.rmtree(scratch / MODEL_DIR)
    spec = dataclasses.replace(loaded.spec, numeric=[*loaded.spec.numeric, MISSING_FEATURE])
    manifest = save_model(loaded.model, spec, scratch / MODEL_DIR, extra=loaded.manifest.extra)
    metadata = json.loads((scratch / METADATA_FILE).read_text())
    metadata["manifest_sha256"] = manifest.manifest_sha256
    (scratch / METADATA_FILE).write_text(json.dumps(metadata))
    store.import_bundle(broken_tag, scratch, {"pipeline": pipeline})
    return broken_tag

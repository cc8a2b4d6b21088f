"""What monitoring reads from the champion's serving bundle: its reference profile, the
drift thresholds calibrated with it, and its metadata. Bundles are content-addressed by
their model tag, so the cached reads are never stale."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ml_assets.lib.drift_calibration import Calibration, read_calibration
from ml_assets.lib.scoring import METADATA_FILE, REFERENCE_DIR, REFERENCE_FILE


def bundle_reference(folder: Path) -> pd.DataFrame:
    """The reference profile packaged with a champion; a clear error when it has none."""
    path = folder / REFERENCE_DIR / REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundle at {folder} has no reference profile ({REFERENCE_DIR}/{REFERENCE_FILE}):"
            " its model was trained before monitoring was configured; retrain to get one"
        )
    return pd.read_parquet(path)


@functools.lru_cache(maxsize=4)
def served_calibration(bundle: Path) -> Calibration | None:
    """The drift thresholds calibrated with the champion's reference profile; None for a
    bundle built before calibration (its columns then say they are not calibrated)."""
    return read_calibration(bundle / REFERENCE_DIR)


@functools.lru_cache(maxsize=4)
def served_metadata(bundle: Path) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads((bundle / METADATA_FILE).read_text())
    return metadata

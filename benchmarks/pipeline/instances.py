"""Dagster homes for the pipeline benchmarks: the project's local instance beside one on
Dagster's stock SQLite storage, so one run measures both."""

from __future__ import annotations

import shutil
from pathlib import Path


def instance_home(folder: Path, kind: str) -> Path:
    """`folder` made a DAGSTER_HOME: `local` with the project's dagster.yaml, `stock` with
    only telemetry off (so Dagster's default SQLite storage)."""
    from ml_assets.environment import PROJECT_ROOT

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "local":
        shutil.copyfile(PROJECT_ROOT / "configs/dagster/local.yaml", folder / "dagster.yaml")
    else:
        (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return folder

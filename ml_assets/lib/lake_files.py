"""Where the lake keeps a file and how it writes one: shared by the Dagster IO manager and
the BentoML service, so this module needs neither (fsspec only)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import fsspec


def atomic_write(path: str, write: Callable[[Any], object]) -> None:
    """Write through a temporary name in the same folder, then rename into place."""
    fs, fs_path = fsspec.core.url_to_fs(path)
    folder = fs_path.rsplit("/", 1)[0]
    fs.makedirs(folder, exist_ok=True)
    temporary = f"{folder}/.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(temporary, "wb") as handle:
            write(handle)
        fs.mv(temporary, fs_path)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)


def lake_path(base_path: str, asset_path: Sequence[str], partition: str | None) -> str:
    base = base_path.rstrip("/")
    folder = "/".join(asset_path)
    return f"{base}/{folder}/{partition}.parquet" if partition else f"{base}/{folder}.parquet"

"""The ref store: typed pointers (ModelRef, BentoRef, ...) as small JSON files.

The lake holds frames; the values that point at a model, a bento or a passport are kept
here, one JSON file per asset, so that a reader gets a typed object back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import fsspec
from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field

from ml_assets.lib.refs import from_document, to_document
from resources.lake import atomic_write


class RefIOManager(ConfigurableIOManager):
    """Stores a model asset's typed value as `base_path/<asset key>.json` (written
    atomically) and gives the same typed value back to the assets that read it."""

    base_path: str = Field(description="Local folder or fsspec URL of the ref store.")

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        write_ref(self.base_path, context.asset_key.path, obj)

    def load_input(self, context: InputContext) -> Any:
        return read_ref(self.base_path, context.asset_key.path)

    def read(self, asset_path: Sequence[str]) -> Any:
        return read_ref(self.base_path, asset_path)


def ref_path(base_path: str, asset_path: Sequence[str]) -> str:
    return f"{base_path.rstrip('/')}/{'/'.join(asset_path)}.json"


def write_ref(base_path: str, asset_path: Sequence[str], value: Any) -> str:
    path = ref_path(base_path, asset_path)
    payload = json.dumps(to_document(value), indent=2, default=str).encode()
    atomic_write(path, lambda handle: handle.write(payload))
    return path


def read_ref(base_path: str, asset_path: Sequence[str]) -> Any:
    """The typed value of an asset; FileNotFoundError naming the asset if never written."""
    path = ref_path(base_path, asset_path)
    fs, fs_path = fsspec.core.url_to_fs(path)
    if not fs.exists(fs_path):
        raise FileNotFoundError(
            f"{'/'.join(asset_path)} has never been materialised (no file at {path})"
        )
    with fs.open(fs_path, "rb") as handle:
        return from_document(json.loads(handle.read()))

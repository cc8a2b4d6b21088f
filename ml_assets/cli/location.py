"""The code location as the CLI sees it: built on each call, from the environment of the call."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import Definitions


def code_location() -> Definitions:
    """Every pipeline's definitions and the shared resources (imports Dagster lazily, so
    `mlap --help` stays fast)."""
    from ml_assets.definitions import build_definitions

    return build_definitions()

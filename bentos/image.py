"""The serving image: what the service imports, pinned to the versions this platform runs.

The pins are exact and never resolved online at build time (`lock_python_packages=False`):
`bentoml build` otherwise resolves and locks the packages against an index, which fails offline.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bentoml.images import Image

PYTHON_VERSION = "3.11"
SERVING_PACKAGES = (
    "bentoml",
    "pandas",
    "pyarrow",
    "fsspec",
    "numpy",
    "scikit-learn",
    "xgboost",
    "skops",
    "pydantic",
    "pyyaml",
    "scipy",
    "shap",
    "matplotlib",
    "holidays",  # holiday_distance features read the calendar at serving too
)


def serving_pins(extra: tuple[str, ...] = ()) -> list[str]:
    """`name==version` of each serving package (and `extra` ones), as installed here."""
    names = (*SERVING_PACKAGES, *extra)
    return [f"{name}=={importlib.metadata.version(name)}" for name in names]


def serving_image(extra: tuple[str, ...] = ()) -> Image:
    import bentoml

    return bentoml.images.Image(
        python_version=PYTHON_VERSION, lock_python_packages=False
    ).python_packages(*serving_pins(extra))

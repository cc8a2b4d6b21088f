"""What a model file may contain: no pickles anywhere, and skops types from an allow-list.

A model folder is refused if any file, or any member of a zip (skops), is or holds a
pickle; a skops file is loaded only when every type it names is allowed.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path
from typing import Any

# Modules whose types a skops file may contain. `builtins` is narrowed further to classes
# (so `eval`, `exec` or `open` as a FunctionTransformer's func are refused); functools.partial
# appears in HistGradientBoosting's preprocessing and wraps a function that skops audits too.
TRUSTED_MODULES = ("sklearn", "numpy", "scipy", "collections")
TRUSTED_NAMES = frozenset({"functools.partial"})

_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".dill")


class UntrustedModelError(ValueError):
    """A skops file contains types outside the allow-list; it is not loaded."""


def is_trusted_type(name: str) -> bool:
    """Whether a fully qualified type name from a skops file is on the allow-list."""
    module, _, attribute = name.rpartition(".")
    if name in TRUSTED_NAMES or module.split(".")[0] in TRUSTED_MODULES:
        return True
    if module == "builtins":
        return isinstance(getattr(importlib.import_module("builtins"), attribute, None), type)
    return False


def contains_pickle(folder: Path) -> bool:
    """Whether any file in `folder`, or any member of a zip in it (skops), is a pickle.

    Looks for a pickle-like suffix, a pickle protocol 2-5 header at offset 0, or a .npy
    member with an object dtype (numpy stores those as pickles).
    """
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix in _PICKLE_SUFFIXES:
            return True
        with path.open("rb") as handle:
            if _is_pickle_header(handle.read(2)):
                return True
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    head = archive.open(member).read(256)
                    if member.endswith(_PICKLE_SUFFIXES) or _is_pickle_header(head[:2]):
                        return True
                    if member.endswith(".npy") and b"'descr': '|O'" in head:
                        return True
    return False


def _is_pickle_header(head: bytes) -> bool:
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def load_skops(payload: bytes, path: Path) -> Any:
    import skops.io as sio

    found = sio.get_untrusted_types(data=payload)
    refused = [name for name in found if not is_trusted_type(name)]
    if refused:
        raise UntrustedModelError(
            f"{path} contains types outside the allow-list and was not loaded: "
            f"{', '.join(refused)}. Allowed: modules {', '.join(TRUSTED_MODULES)} and their "
            f"submodules, classes from builtins, and {', '.join(sorted(TRUSTED_NAMES))}."
        )
    return sio.loads(payload, trusted=found)

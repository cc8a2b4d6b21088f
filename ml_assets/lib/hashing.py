"""Content hashes of data frames: the data version of every stored partition."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import numpy as np
import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and row values (order-sensitive, index ignored)."""
    return _digest(frame, row_hashes(frame))


def part_hashes(frame: pd.DataFrame, parts: Iterable[np.ndarray]) -> list[str]:
    """`frame_hash` of each part of `frame` (the rows at each array of positions), hashing
    every row once: a row's hash depends only on its own values, so a part's hash is the
    digest of its rows' hashes, whichever frame they were hashed in."""
    hashes = row_hashes(frame)
    return [_digest(frame, hashes[positions]) for positions in parts]


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row over its values (pandas' `hash_pandas_object`)."""
    if not len(frame) or not len(frame.columns):
        return np.empty(0, dtype=np.uint64)
    try:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # cells pandas cannot hash: lists or arrays (a text log's example ids)
        return pd.util.hash_pandas_object(_sequences_as_text(frame), index=False).to_numpy()


def _sequences_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each list, tuple or array cell as the JSON of its items, so a list in
    memory and the array Parquet reads it back as hash alike."""
    copy = frame.copy(deep=False)
    for name in frame.select_dtypes(include="object").columns:
        column = frame[name]
        if column.map(_is_sequence).any():
            copy[name] = column.map(_as_text)
    return copy


def _is_sequence(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _as_text(value: object) -> object:
    if not _is_sequence(value):
        return value
    return json.dumps(np.asarray(value).tolist(), default=str)


def _digest(frame: pd.DataFrame, hashes: np.ndarray) -> str:
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}:{dtype};".encode())
    if len(hashes) and len(frame.columns):
        digest.update(hashes.tobytes())
    return digest.hexdigest()

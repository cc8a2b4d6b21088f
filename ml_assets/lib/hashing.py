"""Content hashes of data frames: the data version of every stored partition."""

from __future__ import annotations

import hashlib

import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and row values (order-sensitive, index ignored)."""
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}:{dtype};".encode())
    if len(frame) and len(frame.columns):
        row_hashes = pd.util.hash_pandas_object(frame, index=False)
        digest.update(row_hashes.to_numpy().tobytes())
    return digest.hexdigest()

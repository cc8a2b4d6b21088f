"""Joins of a few events against whole reference tables, by key lookup.

The serving path joins each request's events to the reference tables (planes, airports,
weather) that training merges in. A pandas merge per table per request was most of a
record's scoring time, so each table's key is indexed once and a join becomes a
positional take of the matched rows: the same rows a left merge gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .config.models import JoinConfig

# Up to this many rows, a join looks each key up in a dict: MultiIndex.from_arrays and
# get_indexer cost a fixed few hundred microseconds, a dict a microsecond a row.
DICT_LOOKUP_ROWS = 64


@dataclass(frozen=True)
class ReferenceLookup:
    """One join: the event columns of its key, the reference key's index, the columns,
    and the same index as a dict from key tuples to positions."""

    keys: list[str]
    index: pd.Index
    columns: list[tuple[str, Any]]
    by_key: dict[tuple[Any, ...], int]

    @classmethod
    def of(cls, reference: pd.DataFrame, join: JoinConfig) -> ReferenceLookup:
        table = reference.reset_index(drop=True)
        columns = list(join.keys.values())
        index = (
            pd.MultiIndex.from_frame(table[columns])
            if len(columns) > 1
            else pd.Index(table[columns[0]])
        )
        if index.has_duplicates:
            raise ValueError(f"reference {join.source!r} has duplicate keys {columns}")
        sources = [
            (name, _take_source(table[reference_column]))
            for reference_column, name in join.columns.items()
        ]
        by_key = {key: i for i, key in enumerate(_key_tuples([table[c] for c in columns]))}
        return cls(list(join.keys), index, sources, by_key)

    def positions(self, keys: list[pd.Series]) -> np.ndarray:
        """Each row's position in the reference, -1 where it has none (as get_indexer)."""
        rows = len(keys[0])
        if rows <= DICT_LOOKUP_ROWS:
            found = (self.by_key.get(key, -1) for key in _key_tuples(keys))
            return np.fromiter(found, dtype=np.intp, count=rows)
        wanted = pd.MultiIndex.from_arrays(keys) if len(keys) > 1 else pd.Index(keys[0])
        return np.asarray(self.index.get_indexer(wanted))


def _key_tuples(columns: list[pd.Series]) -> Iterator[tuple[Any, ...]]:
    """Rows of key values as hashable tuples; every kind of null is None, because
    get_indexer (like a pandas merge) matches a null key with a null key."""
    plain = [[None if pd.isna(v) else v for v in column.tolist()] for column in columns]
    return zip(*plain, strict=True)


def _take_source(column: pd.Series) -> Any:
    """The values `take` reads: the extension array if any (keeps Int64 and string)."""
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return column.array
    return column.to_numpy()

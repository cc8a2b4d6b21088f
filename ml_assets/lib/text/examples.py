"""The example store: the labelled texts the text classifiers learn from and cite.

Rows come from the feature partitions (text, label, metadata and the training window).
A row is quarantined, with its reason, when its text is empty (shorter than `min_chars`
once trimmed), when it has no label, or when its normalised text (case-folded, runs of
white space as one space) repeats an earlier kept example: a repeated text would count
twice in training and could sit in training and test at once. The store's version is the
content hash of the kept examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ml_assets.lib.hashing import frame_hash

EXAMPLE_ID = "example_id"
TEXT = "text"
LABEL = "label"
REASON = "reason"
REASONS = ("empty", "unlabelled", "duplicate")


@dataclass(frozen=True)
class ExampleStore:
    """Kept examples (`example_id`, `text`, `label`, extra columns), the quarantined rows
    with their `reason`, and the store's version (content hash of the kept examples)."""

    examples: pd.DataFrame
    quarantine: pd.DataFrame
    version: str

    def counts(self) -> dict[str, int]:
        """Kept rows and quarantined rows per reason (every reason, zero included)."""
        found = self.quarantine[REASON].value_counts()
        return {"kept": len(self.examples)} | {r: int(found.get(r, 0)) for r in REASONS}


def normalise(texts: pd.Series) -> pd.Series:
    """Trimmed text with every run of white space as one space."""
    return texts.astype("string").str.replace(r"\s+", " ", regex=True).str.strip()


def build_example_store(
    rows: pd.DataFrame,
    *,
    text_column: str,
    label_column: str,
    id_columns: Sequence[str] = (),
    keep_columns: Sequence[str] = (),
    min_chars: int = 1,
) -> ExampleStore:
    """Split `rows` (in their given order: the first of duplicates is kept) into examples and
    quarantine. `id_columns` make each example's id (joined by `|`); without them the id is
    the row's position. Raises if a named column is missing."""
    needed = [text_column, label_column, *id_columns, *keep_columns]
    missing = [c for c in dict.fromkeys(needed) if c not in rows.columns]
    if missing:
        raise KeyError(f"columns missing from the example rows: {', '.join(missing)}")
    rows = rows.reset_index(drop=True)
    text = normalise(rows[text_column])
    if id_columns:
        ids = rows[list(id_columns)].astype("string").agg("|".join, axis=1)
    else:
        ids = pd.Series([str(i) for i in range(len(rows))], dtype="string")
    frame = pd.DataFrame(
        {
            EXAMPLE_ID: ids.astype("string").to_numpy(),
            TEXT: text.to_numpy(),
            LABEL: rows[label_column].astype("string").to_numpy(),
        }
    )
    for column in keep_columns:
        if column not in frame:
            frame[column] = rows[column].to_numpy()
    frame[TEXT] = frame[TEXT].astype("string")
    frame[LABEL] = frame[LABEL].astype("string")
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    empty = frame[TEXT].isna() | (frame[TEXT].fillna("").str.len() < min_chars)
    reason[empty] = "empty"
    reason[reason.isna() & frame[LABEL].isna()] = "unlabelled"
    folded = frame[TEXT].str.casefold()
    candidates = reason.isna()
    repeated = folded[candidates].duplicated(keep="first")
    reason[repeated[repeated].index] = "duplicate"
    duplicate_ids = frame[EXAMPLE_ID].duplicated(keep="first") & reason.isna()
    if duplicate_ids.any():
        shown = frame.loc[duplicate_ids, EXAMPLE_ID].head(3).tolist()
        raise ValueError(f"example ids repeat with different texts: {shown}")
    kept = frame[reason.isna()].reset_index(drop=True)
    quarantine = frame[reason.notna()].assign(**{REASON: reason[reason.notna()]})
    return ExampleStore(
        examples=kept,
        quarantine=quarantine.reset_index(drop=True),
        version=frame_hash(kept),
    )

"""Train / validation / test rows of a table without event time: split once, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = ("train", "validation", "test")


class SplitError(ValueError):
    """The rows cannot be split as the config asks (named in the message)."""


def window_of_rows(
    labels: pd.Series,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    stratify: bool,
) -> pd.Series:
    """The window of each row: `test_fraction` of the rows to test, `validation_fraction`
    to validation, the rest to train; by class when `stratify` (every class keeps its share
    in each window), plain shuffled otherwise. The same seed gives the same split."""
    from sklearn.model_selection import train_test_split  # not on the code location's path

    positions = np.arange(len(labels))
    held_out = validation_fraction + test_fraction
    by = labels.astype("string").to_numpy() if stratify else None
    try:
        train, rest = train_test_split(
            positions, test_size=held_out, random_state=seed, stratify=by
        )
        rest_by = by[rest] if by is not None else None
        validation, test = train_test_split(
            rest, test_size=test_fraction / held_out, random_state=seed, stratify=rest_by
        )
    except ValueError as exc:  # a class too small to be in every window
        raise SplitError(f"cannot split {len(labels)} rows by class: {exc}") from exc
    windows = np.empty(len(labels), dtype=object)
    for name, rows in zip(WINDOWS, (train, validation, test), strict=True):
        windows[rows] = name
    return pd.Series(windows, index=labels.index, name="window")


def window_from_column(values: pd.Series) -> pd.Series:
    """The window of each row as a declared split column gives it (train / validation /
    test, any case; `valid` and `val` for validation)."""
    text = values.astype("string").str.strip().str.lower()
    named = text.replace({"valid": "validation", "val": "validation"})
    unknown = sorted(set(named.dropna()) - set(WINDOWS))
    if unknown or named.isna().any():
        shown = ", ".join(map(repr, unknown[:5])) or "null"
        raise SplitError(
            f"split column {values.name!r} has value(s) {shown}; "
            "expected train, validation or test on every row"
        )
    return named.astype(object).rename("window")

"""Refuse training data that cannot give a meaningful model, with the reason."""

from collections.abc import Sequence

import pandas as pd

REQUIRED_WINDOWS = ("train", "validation", "test")


class TrainingDataError(ValueError):
    """The training set is empty, single-class or has an unusable feature."""


def check_trainable(
    data: pd.DataFrame, window_column: str, label: str, features: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Rows and positive rate per window; raises TrainingDataError naming the problem."""
    rows: dict[str, float] = {}
    positive_rate: dict[str, float] = {}
    for window in REQUIRED_WINDOWS:
        part = data[data[window_column] == window]
        if part.empty:
            raise TrainingDataError(f"the {window} window has no labelled rows")
        classes = part[label].astype(bool).nunique()
        if classes < 2:
            only = bool(part[label].astype(bool).iloc[0])
            raise TrainingDataError(
                f"the {window} window has a single class ({label}={only} for all "
                f"{len(part)} rows): a classifier cannot be trained or evaluated on it"
            )
        rows[window] = len(part)
        positive_rate[window] = round(float(part[label].astype(bool).mean()), 4)
    train = data[data[window_column] == "train"]
    all_null = [name for name in features if train[name].isna().all()]
    if all_null:
        raise TrainingDataError(f"feature(s) {', '.join(all_null)} are null in every training row")
    return {"rows": rows, "positive_rate": positive_rate}

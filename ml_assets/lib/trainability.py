"""Refuse training data that cannot give a meaningful model, with the reason."""

from collections.abc import Sequence

import pandas as pd

REQUIRED_WINDOWS = ("train", "validation", "test")


class TrainingDataError(ValueError):
    """The training set is empty, single-class or has an unusable feature."""


def check_trainable(
    data: pd.DataFrame,
    window_column: str,
    label: str,
    features: Sequence[str],
    problem_type: str = "binary_classification",
    classes: Sequence[str] = (),
) -> dict[str, dict[str, object]]:
    """Rows and the label's profile per window (binary: the positive rate; multiclass: the
    class shares; regression: the mean); raises TrainingDataError naming the problem."""
    rows: dict[str, object] = {}
    profile: dict[str, object] = {}
    for window in REQUIRED_WINDOWS:
        part = data[data[window_column] == window]
        if part.empty:
            raise TrainingDataError(f"the {window} window has no labelled rows")
        rows[window] = len(part)
        profile[window] = _profile(part[label], window, problem_type, classes)
    train = data[data[window_column] == "train"]
    all_null = [name for name in features if train[name].isna().all()]
    if all_null:
        raise TrainingDataError(f"feature(s) {', '.join(all_null)} are null in every training row")
    return {"rows": rows, "profile": profile}


def _profile(labels: pd.Series, window: str, problem_type: str, classes: Sequence[str]) -> object:
    name = labels.name
    if problem_type == "regression":
        values = pd.to_numeric(labels).astype("float64")
        if window == "train" and values.nunique() < 2:
            raise TrainingDataError(
                f"the train window's {name} is constant ({values.iloc[0]} in all "
                f"{len(values)} rows): there is nothing to predict"
            )
        return round(float(values.mean()), 4)
    if problem_type in ("multiclass_classification", "text_classification"):
        shares = labels.astype("string").value_counts(normalize=True)
        absent = [c for c in classes if c not in shares.index]
        if window == "train" and absent:
            raise TrainingDataError(
                f"the train window has no row of class(es) {', '.join(absent)} of {name}: "
                "widen the window, or map or drop the class in the config"
            )
        return {str(k): round(float(v), 4) for k, v in shares.items()}
    if labels.astype(bool).nunique() < 2:
        only = bool(labels.astype(bool).iloc[0])
        raise TrainingDataError(
            f"the {window} window has a single class ({name}={only} for all "
            f"{len(labels)} rows): a classifier cannot be trained or evaluated on it"
        )
    return round(float(labels.astype(bool).mean()), 4)

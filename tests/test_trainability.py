"""Tier 1: the temporal split never leaks, and unusable training data is refused by name."""

from datetime import date

import pandas as pd
import pytest

from ml_assets.lib.split import missing_days, temporal_split
from ml_assets.lib.trainability import TrainingDataError, check_trainable


@pytest.mark.parametrize(("train", "validation", "test"), [(120, 21, 21), (1, 1, 1), (30, 7, 3)])
def test_windows_are_disjoint_ordered_and_end_on_as_of(
    train: int, validation: int, test: int
) -> None:
    split = temporal_split(date(2013, 12, 31), train, validation, test)
    days = [split.train.days(), split.validation.days(), split.test.days()]
    assert [len(d) for d in days] == [train, validation, test]
    assert max(days[0]) < min(days[1]) and max(days[1]) < min(days[2])
    assert days[2][-1] == "2013-12-31"
    assert len(set(split.all_days())) == train + validation + test


def test_missing_days_are_listed() -> None:
    split = temporal_split(date(2013, 3, 10), 5, 2, 2)
    available = [d for d in split.all_days() if d != "2013-03-03"]
    assert missing_days(split, available) == ["2013-03-03"]


def _data(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "window": ["train", "train", "validation", "validation", "test", "test"],
        "delayed": [True, False, True, False, True, False],
        "distance": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }
    return pd.DataFrame(base | columns)


def test_balanced_data_passes_with_counts() -> None:
    result = check_trainable(_data(), "window", "delayed", ["distance"])
    assert result["rows"] == {"train": 2, "validation": 2, "test": 2}
    assert result["profile"]["test"] == 0.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_data(delayed=[True, True, True, False, True, False]), "train window has a single class"),
        (
            _data(window=["train", "train", "test", "test", "test", "test"]),
            "validation window has no labelled rows",
        ),
        (
            _data(distance=[None, None, 3.0, 4.0, 5.0, 6.0]),
            "distance are null in every training row",
        ),
    ],
)
def test_unusable_training_data_is_refused_by_name(data: pd.DataFrame, message: str) -> None:
    with pytest.raises(TrainingDataError, match=message):
        check_trainable(data, "window", "delayed", ["distance"])


def test_a_constant_regression_target_is_refused() -> None:
    data = pd.DataFrame(
        {"window": ["train", "train", "validation", "test"], "y": [2.0, 2.0, 1.0, 3.0], "x": 1.0}
    )
    with pytest.raises(TrainingDataError, match="constant"):
        check_trainable(data, "window", "y", ["x"], "regression")


def test_a_class_missing_from_training_is_named() -> None:
    data = pd.DataFrame(
        {"window": ["train", "train", "validation", "test"], "y": ["a", "b", "c", "a"], "x": 1.0}
    )
    with pytest.raises(TrainingDataError, match="class\\(es\\) c of y"):
        check_trainable(data, "window", "y", ["x"], "multiclass_classification", ("a", "b", "c"))
    shares = check_trainable(
        data.assign(y=["a", "c", "b", "a"]), "window", "y", ["x"], "multiclass_classification",
        ("a", "c")
    )  # fmt: skip
    assert shares["profile"]["train"] == {"a": 0.5, "c": 0.5}

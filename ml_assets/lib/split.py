"""Temporal train / validation / test windows of whole days, never shuffled across time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive

    def days(self) -> list[str]:
        count = (self.end - self.start).days + 1
        return [(self.start + timedelta(days=i)).isoformat() for i in range(count)]

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class TemporalSplit:
    train: Window
    validation: Window
    test: Window

    def windows(self) -> dict[str, Window]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def all_days(self) -> list[str]:
        return self.train.days() + self.validation.days() + self.test.days()


def temporal_split(
    as_of: date, train_days: int, validation_days: int, test_days: int
) -> TemporalSplit:
    """Back-to-back windows ending on `as_of`: train, then validation, then test."""
    test = Window(as_of - timedelta(days=test_days - 1), as_of)
    validation_end = test.start - timedelta(days=1)
    validation = Window(validation_end - timedelta(days=validation_days - 1), validation_end)
    train_end = validation.start - timedelta(days=1)
    train = Window(train_end - timedelta(days=train_days - 1), train_end)
    return TemporalSplit(train=train, validation=validation, test=test)


def training_split(
    as_of: date,
    train_days: int | Literal["all"],
    validation_days: int,
    test_days: int,
    available: Iterable[str],
) -> TemporalSplit:
    """The split of a training as of `as_of`; with `train_days: all` the training window
    reaches back to the first materialised day."""
    if train_days != "all":
        return temporal_split(as_of, train_days, validation_days, test_days)
    first = min(available, default=None)
    validation_start = as_of - timedelta(days=test_days + validation_days - 1)
    reach = (validation_start - date.fromisoformat(first)).days if first else 0
    if reach < 1:
        raise ValueError(
            f"train_days: all leaves no training day before {validation_start} "
            f"(first materialised day: {first or 'none'})"
        )
    return temporal_split(as_of, reach, validation_days, test_days)


def rolling_folds(split: TemporalSplit, folds: int) -> list[tuple[Window, Window]]:
    """Rolling-origin validation: `folds` back-to-back windows the size of the validation
    window, the last being the validation window itself, each with the training days
    before it (from the start of the training window). Oldest fold first."""
    size = (split.validation.end - split.validation.start).days + 1
    found = []
    for back in range(folds - 1, -1, -1):
        end = split.validation.end - timedelta(days=back * size)
        fold = Window(end - timedelta(days=size - 1), end)
        if fold.start <= split.train.start:
            raise ValueError(
                f"{folds} validation folds of {size} days leave no training day before "
                f"{fold}: lengthen train_days or use fewer folds"
            )
        found.append((Window(split.train.start, fold.start - timedelta(days=1)), fold))
    return found


def latest_complete_day(available: Iterable[str]) -> date:
    days = sorted(available)
    if not days:
        raise ValueError("no materialised feature partitions: run the ingest job first")
    return date.fromisoformat(days[-1])


def missing_days(split: TemporalSplit, available: Iterable[str]) -> list[str]:
    """Days of the split whose features were never materialised."""
    have = set(available)
    return [day for day in split.all_days() if day not in have]

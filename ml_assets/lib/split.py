"""Temporal train / validation / test windows of whole days, never shuffled across time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


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


def latest_complete_day(available: Iterable[str]) -> date:
    days = sorted(available)
    if not days:
        raise ValueError("no materialised feature partitions: run the ingest job first")
    return date.fromisoformat(days[-1])


def missing_days(split: TemporalSplit, available: Iterable[str]) -> list[str]:
    """Days of the split whose features were never materialised."""
    have = set(available)
    return [day for day in split.all_days() if day not in have]

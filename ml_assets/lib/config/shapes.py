"""The two shapes of a pipeline's data: events cut into daily partitions, or one static
table split once."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from .base import Name, StrictModel, TimeZone
from .connectors import LandingFolder


class PartitioningConfig(StrictModel):
    """How the event source is cut into daily partitions."""

    source: Name = Field(description="The event source, partitioned by day.")
    time_column: str = Field(description="Event-time column of that source (a datetime).")
    timezone: TimeZone = Field("UTC", description="IANA zone in which a day starts and ends.")
    start_date: date = Field(description="First partition.")
    end_date: date | None = Field(None, description="Last partition (inclusive).")

    @model_validator(mode="after")
    def _end_after_start(self) -> PartitioningConfig:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


class ScoringBatches(LandingFolder):
    """New rows of a static table to score, arriving as files `<batch>.<format>` (a batch
    name of letters, digits, `_`, `-` and `.`): each file is one partition of the batch
    assets, validated, featurised, scored by the champion and, with `monitoring:`, checked
    for drift against the champion's reference (and for performance where it has labels)."""

    format: Literal["csv", "parquet", "jsonl"] = Field(
        "csv", description="Format of the batch files (CSV with a header row), their extension."
    )
    typical_rows: int = Field(
        200,
        ge=10,
        description="Rows of a typical batch: drift thresholds are calibrated on random "
        "training batches of this size (a drift test's sensitivity depends on it).",
    )


class TableConfig(StrictModel):
    """A table without event time: every source is one unpartitioned asset, and the rows
    are split into train / validation / test once, seeded (stratified by class for
    classification), or by a declared split column."""

    source: Name = Field(description="The source whose rows are the examples.")
    validation_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of rows in the validation window."
    )
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of rows in the test window.")
    split_column: str | None = Field(
        None,
        description="Column of the source whose values (train, validation, test) place each "
        "row; the fractions are then unused.",
    )

    batches: ScoringBatches | None = Field(
        None,
        description="Landing folder of new rows to score in batches; without it, new rows "
        "are scored through the service only.",
    )

    @model_validator(mode="after")
    def _room_to_train(self) -> TableConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"validation_fraction {self.validation_fraction} + test_fraction "
                f"{self.test_fraction} leave under 10% of the rows to train on"
            )
        return self

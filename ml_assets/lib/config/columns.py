"""One declared column of a source: its type, the constraints every value must meet and,
for a datetime, the columns that repeat its parts."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, model_validator

from .base import StrictModel, TimeZone


class ColumnType(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    CATEGORY = "category"
    DATETIME = "datetime"


NUMERIC_TYPES = {ColumnType.INT, ColumnType.FLOAT}

CALENDAR_PARTS = ("year", "month", "day", "hour", "minute")


class DatetimeParts(StrictModel):
    """Int columns of the same source that repeat parts of this datetime as seen in
    `timezone` (e.g. a local `hour` next to a UTC `time_hour`). A row whose parts disagree
    with the datetime is quarantined and a request sending one is refused, naming both; the
    year column's `min`/`max` bound the datetime itself."""

    timezone: TimeZone = Field("UTC", description="IANA zone in which the part columns are read.")
    year: str | None = Field(None, description="Column holding the datetime's year.")
    month: str | None = Field(None, description="Column holding its month (1-12).")
    day: str | None = Field(None, description="Column holding its day of the month.")
    hour: str | None = Field(None, description="Column holding its hour (0-23).")
    minute: str | None = Field(None, description="Column holding its minute (0-59).")

    @model_validator(mode="after")
    def _names_a_part(self) -> DatetimeParts:
        if not self.columns:
            raise ValueError(f"name at least one part column: {', '.join(CALENDAR_PARTS)}")
        return self

    @property
    def columns(self) -> dict[str, str]:
        """Calendar part -> the column that holds it, for the parts declared."""
        return {part: getattr(self, part) for part in CALENDAR_PARTS if getattr(self, part)}


class ColumnSpec(StrictModel):
    """One declared column: its type and the constraints every value must meet; a row
    that breaks one is quarantined with the reason."""

    type: ColumnType = Field(description="Logical type the column is coerced to.")
    nullable: bool = Field(False, description="Whether missing values are valid.")
    min: float | None = Field(None, description="Smallest valid value (numeric columns).")
    max: float | None = Field(None, description="Largest valid value (numeric columns).")
    allowed: list[str] | None = Field(
        None, description="Allowed values (required for category columns)."
    )
    pattern: str | None = Field(None, description="Regular expression for str columns.")
    parts: DatetimeParts | None = Field(
        None, description="Datetime columns: the columns that repeat its parts."
    )
    description: str | None = Field(
        None, description="Free text about the column, kept in the validation schema."
    )

    @model_validator(mode="after")
    def _check_constraints_fit_type(self) -> ColumnSpec:
        if (self.min is not None or self.max is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"min/max only apply to int or float columns, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.type == ColumnType.CATEGORY and not self.allowed:
            raise ValueError("a category column needs a non-empty 'allowed' list")
        if self.allowed is not None and self.type not in {ColumnType.CATEGORY, ColumnType.STR}:
            raise ValueError(f"'allowed' only applies to category or str columns, not {self.type}")
        if self.parts is not None and self.type != ColumnType.DATETIME:
            raise ValueError(f"'parts' only applies to datetime columns, not {self.type}")
        if self.pattern is not None:
            if self.type != ColumnType.STR:
                raise ValueError("'pattern' only applies to str columns")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from exc
        return self


def check_datetime_parts(columns: dict[str, ColumnSpec]) -> None:
    """Every part column a datetime names is an int column of the same source."""
    for name, spec in columns.items():
        if spec.parts is None:
            continue
        for part, column in spec.parts.columns.items():
            other = columns.get(column)
            if other is None:
                raise ValueError(f"{name}.parts.{part} names undeclared column {column!r}")
            if other.type != ColumnType.INT:
                raise ValueError(f"{name}.parts.{part}: column {column!r} is {other.type}, not int")

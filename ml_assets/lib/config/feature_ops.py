"""The feature operations a pipeline config may declare (no code runs from a config)."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import StrictModel, TimeZone


class _FeatureBase(StrictModel):
    description: str | None = Field(
        None, description="Free text about the feature, shown in the serving API's schema."
    )


class PassthroughFeature(_FeatureBase):
    """A column as it is."""

    op: Literal["passthrough"]
    column: str = Field(description="Column used as the feature.")


class DatetimePartFeature(_FeatureBase):
    """A calendar part of a datetime column in local time: hour (0-23), day_of_week
    (0 = Monday), month (1-12), day_of_year (1-366), is_weekend (1 on Saturday and Sunday)."""

    op: Literal["hour", "day_of_week", "month", "day_of_year", "is_weekend"] = Field(
        description="Which calendar part."
    )
    column: str = Field(description="A datetime column.")
    timezone: TimeZone | None = Field(None, description="Defaults to the partitioning time zone.")


class HhmmToMinutesFeature(_FeatureBase):
    """Clock time written as HHMM (e.g. 1345) to minutes after midnight (825)."""

    op: Literal["hhmm_to_minutes"]
    column: str = Field(description="Integer column holding HHMM clock times.")


class RatioFeature(_FeatureBase):
    """`numerator / denominator`; null where the denominator is 0."""

    op: Literal["ratio"]
    numerator: str = Field(description="Numeric column divided.")
    denominator: str = Field(description="Numeric column it is divided by.")


class DifferenceFeature(_FeatureBase):
    """`left - right`."""

    op: Literal["difference"]
    left: str = Field(description="Numeric column subtracted from.")
    right: str = Field(description="Numeric column subtracted.")


class AgeFeature(_FeatureBase):
    """`reference - column`, e.g. the age of a plane from its year of manufacture."""

    op: Literal["age"]
    column: str = Field(description="Numeric column subtracted from `reference`.")
    reference: int = Field(description="Value the column is subtracted from, e.g. a year.")


class Log1pFeature(_FeatureBase):
    """`log(1 + column)`; null where the column is -1 or less."""

    op: Literal["log1p"]
    column: str = Field(description="Numeric column.")


class IsMissingFeature(_FeatureBase):
    """1 where the column is null, else 0."""

    op: Literal["is_missing"]
    column: str = Field(description="Column whose missing values are flagged.")


class BucketFeature(_FeatureBase):
    """Index of the bin between `edges` a value falls in (0 for the first; the lowest edge
    is included); null outside the edges."""

    op: Literal["bucket"]
    column: str = Field(description="Numeric column.")
    edges: list[float] = Field(min_length=2, description="Increasing bin edges.")

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: list[float]) -> list[float]:
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("edges must be strictly increasing")
        return edges


class HolidayCalendar(StrictModel):
    """Which days are holidays: a country's public holidays (optionally one of its
    subdivisions, e.g. a state), as the `holidays` package knows them, or listed dates."""

    country: str | None = Field(
        None, description="ISO 3166-1 alpha-2 code of the country, e.g. `US`, `GB`, `DE`."
    )
    subdivision: str | None = Field(
        None, description="The country's subdivision code (a state, province), e.g. `NY`."
    )
    dates: list[dt.date] | None = Field(
        None, min_length=1, description="The holidays themselves, instead of a country."
    )

    @model_validator(mode="after")
    def _one_source(self) -> HolidayCalendar:
        if (self.country is None) == (self.dates is None):
            raise ValueError("give either `country` or `dates`, not both or neither")
        if self.subdivision is not None and self.country is None:
            raise ValueError("`subdivision` needs `country`")
        if self.country is not None:
            from ml_assets.lib.holiday_calendar import check_calendar

            check_calendar(self.country, self.subdivision)
        return self


class HolidayDistanceFeature(_FeatureBase):
    """Days from the nearest holiday to the event's local date, known from the calendar
    before the event: negative before the holiday, 0 on it, positive after (the earlier
    holiday wins a tie); clipped to +-`max_days`."""

    op: Literal["holiday_distance"]
    column: str = Field(description="A datetime column.")
    calendar: HolidayCalendar = Field(description="Which days are holidays.")
    max_days: int = Field(30, ge=1, le=366, description="Distances beyond are clipped to it.")
    timezone: TimeZone | None = Field(None, description="Defaults to the partitioning time zone.")


class TargetRateFeature(_FeatureBase):
    """The target's mean (the positive rate of a binary target) in the event's group over
    the `days` days before the event's day, never the day itself: known before the event.
    Fitted with the model on the days it is fitted on and stored with it; past those days
    (the test window, serving) the latest `days` days it holds are used. Shrunk towards
    the mean of all groups over the same days by `prior_rows` pseudo-events."""

    op: Literal["target_rate"]
    group: list[str] = Field(
        min_length=1,
        description="Categorical features (passthrough of a text, category, int or bool "
        "column) or calendar parts whose values together make the group, e.g. `[origin]`, "
        "`[origin, dest]`.",
    )
    days: int = Field(7, ge=1, le=366, description="Days before the event's day counted.")
    prior_rows: float = Field(
        20.0, ge=0, description="Pseudo-events at the all-groups mean added to each group."
    )


class EventCountFeature(_FeatureBase):
    """The events a day in the event's group over the `days` days before the event's day,
    e.g. departures by `[origin, hour]`: how busy the schedule was, known before the event.
    Fitted with the model on the days it is fitted on and stored with it, like
    `target_rate`; a group absent from those days counts 0."""

    op: Literal["event_count"]
    group: list[str] = Field(
        min_length=1,
        description="Categorical features or calendar parts whose values together make "
        "the group, e.g. `[origin]`, `[origin, hour]`.",
    )
    days: int = Field(7, ge=1, le=366, description="Days before the event's day averaged.")


HistoryFeature = TargetRateFeature | EventCountFeature
"""Features the model's feature spec fits on past days and computes for each event."""


FeatureSpec = Annotated[
    PassthroughFeature
    | DatetimePartFeature
    | HhmmToMinutesFeature
    | RatioFeature
    | DifferenceFeature
    | AgeFeature
    | Log1pFeature
    | IsMissingFeature
    | BucketFeature
    | HolidayDistanceFeature
    | TargetRateFeature
    | EventCountFeature,
    Field(discriminator="op"),
]

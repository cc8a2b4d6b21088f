"""The feature operations a pipeline config may declare (no code runs from a config)."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .base import StrictModel


class _FeatureBase(StrictModel):
    description: str | None = None


class PassthroughFeature(_FeatureBase):
    op: Literal["passthrough"]
    column: str


class DatetimePartFeature(_FeatureBase):
    op: Literal["hour", "day_of_week", "month", "day_of_year", "is_weekend"]
    column: str
    timezone: str | None = Field(None, description="Defaults to the partitioning time zone.")


class HhmmToMinutesFeature(_FeatureBase):
    """Clock time written as HHMM (e.g. 1345) to minutes after midnight (825)."""

    op: Literal["hhmm_to_minutes"]
    column: str


class RatioFeature(_FeatureBase):
    op: Literal["ratio"]
    numerator: str
    denominator: str


class DifferenceFeature(_FeatureBase):
    op: Literal["difference"]
    left: str
    right: str


class AgeFeature(_FeatureBase):
    """`reference - column`, e.g. the age of a plane from its year of manufacture."""

    op: Literal["age"]
    column: str
    reference: int


class Log1pFeature(_FeatureBase):
    op: Literal["log1p"]
    column: str


class IsMissingFeature(_FeatureBase):
    op: Literal["is_missing"]
    column: str


class BucketFeature(_FeatureBase):
    op: Literal["bucket"]
    column: str
    edges: list[float] = Field(min_length=2, description="Increasing bin edges.")

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: list[float]) -> list[float]:
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("edges must be strictly increasing")
        return edges


FeatureSpec = Annotated[
    PassthroughFeature
    | DatetimePartFeature
    | HhmmToMinutesFeature
    | RatioFeature
    | DifferenceFeature
    | AgeFeature
    | Log1pFeature
    | IsMissingFeature
    | BucketFeature,
    Field(discriminator="op"),
]

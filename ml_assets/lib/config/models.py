"""Pydantic models of a pipeline YAML: one ML use case, from sources to features.

Field descriptions double as the config reference (README). Cross-references between
sections (a join naming an unknown source, a feature using an unknown column) are
checked in `references.py`, after these models have validated each section alone.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="snake_case identifier")]


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo in a config must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnType(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    CATEGORY = "category"
    DATETIME = "datetime"


NUMERIC_TYPES = {ColumnType.INT, ColumnType.FLOAT}


class ColumnSpec(StrictModel):
    type: ColumnType = Field(description="Logical type the column is coerced to.")
    nullable: bool = Field(False, description="Whether missing values are valid.")
    min: float | None = Field(None, description="Smallest valid value (numeric columns).")
    max: float | None = Field(None, description="Largest valid value (numeric columns).")
    allowed: list[str] | None = Field(
        None, description="Allowed values (required for category columns)."
    )
    pattern: str | None = Field(None, description="Regular expression for str columns.")
    description: str | None = None

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
        if self.pattern is not None:
            if self.type != ColumnType.STR:
                raise ValueError("'pattern' only applies to str columns")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from exc
        return self


class PackageConnector(StrictModel):
    """A data file shipped inside an installed Python package (read without importing it)."""

    kind: Literal["package"]
    package: str = Field(description="Installed distribution's top-level package.")
    path: str = Field(description="File inside the package, e.g. data/flights.csv.zip.")


class CsvConnector(StrictModel):
    kind: Literal["csv"]
    path: str = Field(description="File path or fsspec URL; relative paths are from the config.")
    delimiter: str = ","


class ParquetConnector(StrictModel):
    kind: Literal["parquet"]
    path: str = Field(description="File path or fsspec URL; relative paths are from the config.")


class JsonLinesConnector(StrictModel):
    kind: Literal["jsonl"]
    path: str = Field(description="File path or fsspec URL; relative paths are from the config.")


class SqlConnector(StrictModel):
    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////abs/path.db or ${DB_URL}.")
    table: str | None = Field(None, description="Table to read whole.")
    query: str | None = Field(None, description="SELECT statement to read instead of a table.")

    @model_validator(mode="after")
    def _exactly_one_of_table_or_query(self) -> SqlConnector:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class LandingZoneConnector(StrictModel):
    """A folder of daily files named <YYYY-MM-DD>.<format>; one file is one partition."""

    kind: Literal["landing_zone"]
    path: str = Field(description="Folder; relative paths are under the platform's state dir.")
    format: Literal["csv", "parquet", "jsonl"] = "csv"


Connector = Annotated[
    PackageConnector
    | CsvConnector
    | ParquetConnector
    | JsonLinesConnector
    | SqlConnector
    | LandingZoneConnector,
    Field(discriminator="kind"),
]


class SourceConfig(StrictModel):
    connector: Connector
    description: str | None = None
    columns: dict[str, ColumnSpec] = Field(min_length=1, description="The declared schema.")
    primary_key: list[str] = Field(
        default_factory=list, description="Columns that identify a row; duplicates quarantined."
    )

    @model_validator(mode="after")
    def _primary_key_is_declared(self) -> SourceConfig:
        unknown = [c for c in self.primary_key if c not in self.columns]
        if unknown:
            raise ValueError(f"primary_key names undeclared column(s): {', '.join(unknown)}")
        return self


class PartitioningConfig(StrictModel):
    source: Name = Field(description="The event source, partitioned by day.")
    time_column: str = Field(description="Event-time column of that source (a datetime).")
    timezone: str = Field("UTC", description="IANA zone in which a day starts and ends.")
    start_date: date
    end_date: date | None = Field(None, description="Last partition (inclusive).")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> PartitioningConfig:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


class JoinConfig(StrictModel):
    source: Name = Field(description="Reference source joined onto the events (left join).")
    keys: dict[str, str] = Field(min_length=1, description="Event column -> reference column.")
    columns: dict[str, str] = Field(
        min_length=1, description="Reference column -> name it gets in the features."
    )


class TargetConfig(StrictModel):
    name: Name = Field(description="Name of the label column in the features.")
    column: str = Field(description="Event column the label is derived from.")
    op: Literal[">=", ">", "<=", "<", "==", "!="]
    value: bool | float | str
    problem_type: Literal["binary_classification"] = "binary_classification"


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


class FeaturesConfig(StrictModel):
    entity_columns: list[str] = Field(
        default_factory=list, description="Event columns kept to identify rows (not features)."
    )
    definitions: dict[Name, FeatureSpec] = Field(min_length=1)
    forbidden_columns: list[str] = Field(
        default_factory=list,
        description="Columns known only after the event (leakage); no feature may use them.",
    )


class QualityConfig(StrictModel):
    max_quarantine_rate: float = Field(
        0.05, ge=0, le=1, description="Blocking check: share of rows quarantined per partition."
    )
    min_rows_per_partition: int = Field(1, ge=0, description="Blocking check: not empty.")


class SearchParam(StrictModel):
    """One tunable hyper-parameter: a float/int range (optionally log-scaled) or choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs non-empty 'choices'")
        elif self.low is None or self.high is None or self.low >= self.high:
            raise ValueError("a float/int parameter needs 'low' < 'high'")
        elif self.log and self.low <= 0:
            raise ValueError("a log-scaled parameter needs 'low' > 0")
        return self


CandidateFamily = Literal["logistic_regression", "hist_gradient_boosting", "xgboost"]


class CandidateConfig(StrictModel):
    enabled: bool = True
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Fixed hyper-parameters."
    )
    search_space: dict[str, SearchParam] = Field(
        default_factory=dict, description="Hyper-parameters Optuna tunes."
    )


class TuningConfig(StrictModel):
    n_trials: int = Field(20, ge=1, description="Trials per candidate family.")
    timeout_seconds: float = Field(300, gt=0, description="Time budget per candidate family.")
    storage: str | None = Field(
        None, description="Optuna RDB URL for a shared study; in-memory when unset."
    )
    pruning_warmup_steps: int = Field(
        5, ge=0, description="Intermediate reports before a trial may be pruned."
    )


class TrainingConfig(StrictModel):
    as_of: date | None = Field(
        None, description="Last day of the test window; the latest materialised day if unset."
    )
    train_days: int = Field(120, ge=1)
    validation_days: int = Field(21, ge=1)
    test_days: int = Field(21, ge=1)
    max_train_rows: int | None = Field(
        None, ge=100, description="Sample the training window down to this many rows."
    )
    seed: int = 42
    tuning: TuningConfig = TuningConfig()
    candidates: dict[CandidateFamily, CandidateConfig] = Field(min_length=1)
    slice_columns: list[str] = Field(
        default_factory=list, description="Feature or entity columns to report metrics by."
    )

    @model_validator(mode="after")
    def _some_candidate_enabled(self) -> TrainingConfig:
        if not any(c.enabled for c in self.candidates.values()):
            raise ValueError("at least one candidate must be enabled")
        return self


class PromotionConfig(StrictModel):
    margin: float = Field(
        0.002, ge=0, description="ROC AUC the challenger must gain over the champion."
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the paired test.")
    method: Literal["bootstrap", "delong"] = "bootstrap"
    bootstrap_resamples: int = Field(1000, ge=1000)
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability at which label = 1.")


class ServingConfig(StrictModel):
    max_batch_size: int = Field(1000, ge=1, description="Most records in one request.")
    explain_top_k: int = Field(5, ge=1, description="Contributions returned per record.")
    api_key_env: str = Field(
        "MLAP_API_KEY",
        description="When this environment variable is set, /predict, /explain and "
        "/metadata require its value in the X-API-Key header.",
    )
    workers: int = Field(1, ge=1, description="BentoML worker processes.")


class PipelineConfig(StrictModel):
    name: Name
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    sources: dict[Name, SourceConfig] = Field(min_length=1)
    partitioning: PartitioningConfig
    joins: list[JoinConfig] = Field(default_factory=list)
    target: TargetConfig
    features: FeaturesConfig
    quality: QualityConfig = QualityConfig()
    training: TrainingConfig | None = Field(
        None, description="Model lifecycle; a pipeline without it stops at features."
    )
    promotion: PromotionConfig = PromotionConfig()
    serving: ServingConfig = ServingConfig()

    @property
    def event_source(self) -> SourceConfig:
        return self.sources[self.partitioning.source]

    @property
    def reference_sources(self) -> dict[str, SourceConfig]:
        return {n: s for n, s in self.sources.items() if n != self.partitioning.source}

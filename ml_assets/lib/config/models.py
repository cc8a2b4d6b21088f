"""Pydantic models of a pipeline YAML: one ML use case, from sources to features.

Field descriptions and class docstrings are the config reference: `reference_doc.py`
renders them into docs/config-reference.md. Cross-references between
sections (a join naming an unknown source, a feature using an unknown column) are
checked in `references.py`, after these models have validated each section alone.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import NAME_PATTERN, Name, StrictModel
from .columns import NUMERIC_TYPES, ColumnSpec, ColumnType, DatetimeParts, check_datetime_parts
from .connectors import (
    Connector,
    CsvConnector,
    JsonLinesConnector,
    LandingFolder,
    LandingZoneConnector,
    PackageConnector,
    ParquetConnector,
    SqlConnector,
)
from .feature_ops import (
    AgeFeature,
    BucketFeature,
    DatetimePartFeature,
    DifferenceFeature,
    EventCountFeature,
    FeatureSpec,
    HhmmToMinutesFeature,
    HistoryFeature,
    HolidayCalendar,
    HolidayDistanceFeature,
    IsMissingFeature,
    Log1pFeature,
    PassthroughFeature,
    RatioFeature,
    TargetRateFeature,
)
from .lifecycle import (
    CandidateConfig,
    CandidateFamily,
    PromotionConfig,
    SearchParam,
    ServingConfig,
    TrainingConfig,
    TuningConfig,
)
from .monitoring import MonitoringConfig
from .shapes import PartitioningConfig, TableConfig
from .targets import (
    BinaryTarget,
    MulticlassTarget,
    RegressionTarget,
    TargetConfig,
    TextClassificationTarget,
)
from .text import TextConfig

__all__ = [
    "NAME_PATTERN",
    "NUMERIC_TYPES",
    "AgeFeature",
    "BinaryTarget",
    "BucketFeature",
    "CandidateConfig",
    "CandidateFamily",
    "ColumnSpec",
    "ColumnType",
    "Connector",
    "CsvConnector",
    "DatetimePartFeature",
    "DatetimeParts",
    "DifferenceFeature",
    "EventCountFeature",
    "FeatureSpec",
    "HhmmToMinutesFeature",
    "HistoryFeature",
    "HolidayCalendar",
    "HolidayDistanceFeature",
    "IsMissingFeature",
    "JsonLinesConnector",
    "LandingFolder",
    "LandingZoneConnector",
    "Log1pFeature",
    "MulticlassTarget",
    "Name",
    "PackageConnector",
    "ParquetConnector",
    "PartitioningConfig",
    "PassthroughFeature",
    "PromotionConfig",
    "RatioFeature",
    "RegressionTarget",
    "SearchParam",
    "ServingConfig",
    "SqlConnector",
    "StrictModel",
    "TableConfig",
    "TargetConfig",
    "TargetRateFeature",
    "TextClassificationTarget",
    "TextConfig",
    "TrainingConfig",
    "TuningConfig",
]


class SourceConfig(StrictModel):
    """One data source: where its rows come from and the schema they must meet. The source
    named in `partitioning.source` (or `table.source`) holds the examples; every other one
    is a reference table."""

    connector: Connector = Field(
        description="Where the rows come from; `kind` picks the connector."
    )
    description: str | None = Field(
        None, description="Free text added to the raw asset's description in the UI."
    )
    columns: dict[str, ColumnSpec] = Field(min_length=1, description="The declared schema.")
    primary_key: list[str] = Field(
        default_factory=list, description="Columns that identify a row; duplicates quarantined."
    )
    landing_zone: LandingFolder | None = Field(
        None,
        description="Event sources only: daily files that arrive here replace the connector's "
        "rows for their day (the connector is the history, the landing zone the new days).",
    )

    @model_validator(mode="after")
    def _primary_key_is_declared(self) -> SourceConfig:
        unknown = [c for c in self.primary_key if c not in self.columns]
        if unknown:
            raise ValueError(f"primary_key names undeclared column(s): {', '.join(unknown)}")
        check_datetime_parts(self.columns)
        return self


class JoinConfig(StrictModel):
    """A reference source left-joined onto the events. `keys` must cover the reference's
    primary key, so that a join never multiplies rows."""

    source: Name = Field(description="Reference source joined onto the events (left join).")
    keys: dict[str, str] = Field(min_length=1, description="Event column -> reference column.")
    columns: dict[str, str] = Field(
        min_length=1, description="Reference column -> name it gets in the features."
    )


class FeaturesConfig(StrictModel):
    """The model's inputs, computed from event columns and joined reference columns."""

    entity_columns: list[str] = Field(
        default_factory=list, description="Event columns kept to identify rows (not features)."
    )
    definitions: dict[Name, FeatureSpec] = Field(
        min_length=1, description="Feature name -> the operation that computes it; `op` picks it."
    )
    forbidden_columns: list[str] = Field(
        default_factory=list,
        description="Columns known only after the event (leakage); no feature may use them.",
    )


class QualityConfig(StrictModel):
    """Thresholds of the blocking data-quality checks on each partition."""

    max_quarantine_rate: float = Field(
        0.05, ge=0, le=1, description="Blocking check: share of rows quarantined per partition."
    )
    min_rows_per_partition: int = Field(1, ge=0, description="Blocking check: not empty.")


class PipelineConfig(StrictModel):
    """A pipeline file: one ML use case, from its sources to a served and monitored model."""

    name: Name = Field(description="Pipeline name; prefixes every asset key (`<name>/features`).")
    description: str = Field(
        "", description="What the use case is for; shown in the UI and the model card."
    )
    owners: list[str] = Field(
        default_factory=list,
        description="Asset owners shown in the UI, e.g. `team:ml-platform` or an email.",
    )
    sources: dict[Name, SourceConfig] = Field(
        min_length=1, description="Data sources by name: one event source, any reference tables."
    )
    partitioning: PartitioningConfig | None = Field(
        None, description="Daily partitions of the event source (events over time)."
    )
    table: TableConfig | None = Field(
        None, description="Instead of `partitioning`: a static table without event time."
    )
    joins: list[JoinConfig] = Field(default_factory=list)
    target: TargetConfig = Field(
        description="The label or value to predict; `problem_type` picks the kind "
        "(binary_classification when omitted)."
    )
    features: FeaturesConfig
    quality: QualityConfig = QualityConfig()
    training: TrainingConfig | None = Field(
        None, description="Model lifecycle; a pipeline without it stops at features."
    )
    promotion: PromotionConfig = PromotionConfig()
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig | None = Field(
        None, description="Drift, live performance and retraining; needs `training`."
    )
    text: TextConfig | None = Field(
        None,
        description="Text classification only: the encoder and the example store "
        "(defaults apply when a text_classification pipeline omits it).",
    )

    @model_validator(mode="before")
    @classmethod
    def _binary_by_default(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        target = data.get("target")
        if isinstance(target, dict) and "problem_type" not in target:
            return {**data, "target": {**target, "problem_type": "binary_classification"}}
        return data

    @model_validator(mode="after")
    def _partitioned_or_table(self) -> PipelineConfig:
        if (self.partitioning is None) == (self.table is None):
            raise ValueError(
                "give exactly one of `partitioning` (events cut into daily partitions) and "
                "`table` (a static table without event time)"
            )
        return self

    @property
    def is_static(self) -> bool:
        """A table without event time: no partitions, no daily jobs."""
        return self.partitioning is None

    @property
    def event_source_name(self) -> str:
        """The source whose rows are the examples (events, or a static table's rows)."""
        if self.partitioning is not None:
            return self.partitioning.source
        assert self.table is not None
        return self.table.source

    @property
    def daily(self) -> PartitioningConfig:
        """The partitioning of a pipeline known to be partitioned."""
        if self.partitioning is None:
            raise ValueError(f"pipeline {self.name!r} is a static table: it has no partitions")
        return self.partitioning

    @property
    def timezone(self) -> str:
        return self.partitioning.timezone if self.partitioning else "UTC"

    @property
    def landing_folder(self) -> LandingFolder | None:
        """Where the event source's daily files arrive, if they arrive as files."""
        source = self.event_source
        if isinstance(source.connector, LandingZoneConnector):
            return source.connector
        return source.landing_zone

    @property
    def event_source(self) -> SourceConfig:
        return self.sources[self.event_source_name]

    @property
    def reference_sources(self) -> dict[str, SourceConfig]:
        return {n: s for n, s in self.sources.items() if n != self.event_source_name}

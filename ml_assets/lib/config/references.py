"""Checks that span sections of a pipeline config: names that must point at each other.

Each problem is reported with the key path of the offending value, like pydantic's own
errors, so that a user sees `joins.0.on.origin` and not a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator

from .history_checks import history_problems
from .models import (
    NUMERIC_TYPES,
    ColumnType,
    DatetimePartFeature,
    HistoryFeature,
    HolidayDistanceFeature,
    LandingZoneConnector,
    PipelineConfig,
)
from .target_checks import target_problems

Problem = tuple[str, str]  # (key path, message)

# Inputs of each feature op, by the attribute names that hold column references.
_INPUT_FIELDS = ("column", "numerator", "denominator", "left", "right")


def available_columns(config: PipelineConfig) -> dict[str, ColumnType]:
    """Columns a feature may read: the event source's, then every join's output."""
    columns = {name: spec.type for name, spec in config.event_source.columns.items()}
    for join in config.joins:
        ref = config.sources.get(join.source)
        if ref is None:
            continue
        for ref_column, out_name in join.columns.items():
            if ref_column in ref.columns:
                columns[out_name] = ref.columns[ref_column].type
    return columns


def find_reference_problems(config: PipelineConfig) -> list[Problem]:
    return [
        *_partitioning(config),
        *_joins(config),
        *_target_and_features(config),
        *_history(config),
        *_serving(config),
        *_training(config),
        *_monitoring(config),
        *target_problems(config),
    ]


def _partitioning(config: PipelineConfig) -> Iterator[Problem]:
    if config.table is not None:
        yield from _table(config)
        return
    part = config.daily
    if part.source not in config.sources:
        yield "partitioning.source", f"unknown source {part.source!r}; known: {_names(config)}"
        return
    column = config.event_source.columns.get(part.time_column)
    if column is None:
        yield (
            "partitioning.time_column",
            f"{part.time_column!r} is not a declared column of source {part.source!r}",
        )
    elif column.type != ColumnType.DATETIME:
        yield (
            "partitioning.time_column",
            f"{part.time_column!r} must be datetime, not {column.type}",
        )
    for name, source in config.reference_sources.items():
        if isinstance(source.connector, LandingZoneConnector):
            yield (
                f"sources.{name}.connector.kind",
                "a landing_zone connector is only valid for the partitioned event source",
            )
        if source.landing_zone is not None:
            yield (
                f"sources.{name}.landing_zone",
                "only the partitioned event source can arrive in a landing zone",
            )


def _table(config: PipelineConfig) -> Iterator[Problem]:
    """A static table: its source exists, its split column is declared and not an input,
    and nothing expects days (landing zones, daily monitoring)."""
    table = config.table
    assert table is not None
    if table.source not in config.sources:
        yield "table.source", f"unknown source {table.source!r}; known: {_names(config)}"
        return
    column = table.split_column
    if column is not None and column not in config.event_source.columns:
        yield "table.split_column", f"{column!r} is not a declared column of {table.source!r}"
    for name, source in config.sources.items():
        if isinstance(source.connector, LandingZoneConnector) or source.landing_zone:
            yield (
                f"sources.{name}.connector"
                if source.landing_zone is None
                else f"sources.{name}.landing_zone",
                "a static table has no days: daily landing files need `partitioning`",
            )
    if config.monitoring is not None and table.batches is None:
        yield (
            "monitoring",
            "a static table is monitored batch by batch: declare `table.batches` (the folder "
            "its new rows arrive in) or remove `monitoring:`",
        )
    if table.batches is not None and config.training is None:
        yield "table.batches", "scoring batches needs a champion: add `training`"
    training = config.training
    if training is not None and training.validation_folds > 1:
        yield (
            "training.validation_folds",
            "rolling-origin folds need days; a static table is split once (use 1)",
        )
    if training is not None and training.train_days == "all":
        yield "training.train_days", "`all` counts days; a static table has none"


def _joins(config: PipelineConfig) -> Iterator[Problem]:
    if config.event_source_name not in config.sources:
        return
    event_columns = config.event_source.columns
    seen_outputs: set[str] = set(event_columns)
    for i, join in enumerate(config.joins):
        where = f"joins.{i}"
        ref = config.reference_sources.get(join.source)
        if ref is None:
            yield f"{where}.source", f"unknown reference source {join.source!r}"
            continue
        for left, right in join.keys.items():
            if left not in event_columns:
                yield f"{where}.keys.{left}", f"{left!r} is not a column of the event source"
            if right not in ref.columns:
                yield f"{where}.keys.{left}", f"{right!r} is not a column of source {join.source!r}"
        if sorted(join.keys.values()) != sorted(ref.primary_key):
            yield (
                f"{where}.keys",
                f"must join on the primary key of {join.source!r} ({ref.primary_key}) so that "
                "no event row is duplicated",
            )
        for ref_column, out_name in join.columns.items():
            if ref_column not in ref.columns:
                yield (
                    f"{where}.columns.{ref_column}",
                    f"{ref_column!r} is not a column of source {join.source!r}",
                )
            if out_name in seen_outputs:
                yield f"{where}.columns.{ref_column}", f"output name {out_name!r} is already taken"
            seen_outputs.add(out_name)


def _target_and_features(config: PipelineConfig) -> Iterator[Problem]:
    if config.event_source_name not in config.sources:
        return
    columns = available_columns(config)
    event_columns = config.event_source.columns
    target = config.target
    if target.column not in event_columns:
        yield "target.column", f"{target.column!r} is not a column of the event source"
    for i, name in enumerate(config.features.entity_columns):
        if name not in event_columns:
            yield f"features.entity_columns.{i}", f"{name!r} is not a column of the event source"
    forbidden = set(config.features.forbidden_columns)
    entities = set(config.features.entity_columns)
    for name, feature in config.features.definitions.items():
        where = f"features.definitions.{name}"
        same_column = getattr(feature, "column", None) == name and feature.op == "passthrough"
        if name == target.name or (name in entities and not same_column):
            yield where, f"feature name {name!r} clashes with the target or an entity column"
        for field in _INPUT_FIELDS:
            column = getattr(feature, field, None)
            if column is None:
                continue
            if column in forbidden:
                yield (
                    f"{where}.{field}",
                    f"{column!r} is a forbidden column (known only after the event: leakage)",
                )
            elif column not in columns:
                yield f"{where}.{field}", f"unknown column {column!r}"
            elif isinstance(feature, DatetimePartFeature | HolidayDistanceFeature):
                if columns[column] != ColumnType.DATETIME:
                    yield (
                        f"{where}.{field}",
                        f"{feature.op} needs a datetime column, not {column!r}",
                    )
            elif feature.op not in {"passthrough", "is_missing"} and (
                columns[column] not in NUMERIC_TYPES
            ):
                yield f"{where}.{field}", f"{feature.op} needs a numeric column, not {column!r}"


def _history(config: PipelineConfig) -> Iterator[Problem]:
    if config.event_source_name in config.sources:
        yield from history_problems(config, available_columns(config))


def _serving(config: PipelineConfig) -> Iterator[Problem]:
    """Every event column that scoring reads must be a field of the request: the service
    takes the schema minus the forbidden columns and the target's source column, so a
    needed column among those would be a KeyError on every request."""
    if config.event_source_name not in config.sources:
        return
    hidden = {
        **{c: "a forbidden column" for c in config.features.forbidden_columns},
        config.target.column: "the target's source column (unknown when scoring)",
    }
    if config.table is not None and config.table.split_column is not None:
        hidden[config.table.split_column] = "the table's split column (not sent when scoring)"
    needed: list[tuple[str, str]] = [
        (f"features.entity_columns.{i}", c) for i, c in enumerate(config.features.entity_columns)
    ]
    needed += [
        (f"joins.{i}.keys.{left}", left) for i, j in enumerate(config.joins) for left in j.keys
    ]
    for name, feature in config.features.definitions.items():
        for field in _INPUT_FIELDS:
            column = getattr(feature, field, None)
            if column is not None and column in config.event_source.columns:
                needed.append((f"features.definitions.{name}.{field}", column))
        if isinstance(feature, HistoryFeature) and config.partitioning is not None:
            # Serving reads the event's day from the partitioning time column.
            needed.append(("partitioning.time_column", config.partitioning.time_column))
    for where, column in needed:
        if column in hidden and not where.startswith("features.definitions"):
            yield where, f"{column!r} is {hidden[column]}: requests cannot carry it for scoring"
        elif column == config.target.column and column not in config.features.forbidden_columns:
            yield where, f"{column!r} is the target's source column: a feature of the answer"
    experiment = config.serving.experiment
    for name, key in (
        ("entity_key", config.serving.entity_key),
        ("experiment.entity_key", experiment.entity_key),
    ):
        for i, column in enumerate(key or ()):
            where = f"serving.{name}.{i}"
            if column not in config.event_source.columns:
                yield where, f"{column!r} is not a column of the event source"
            elif column in hidden:
                yield where, f"{column!r} is {hidden[column]}: requests do not carry it"
    primary = config.event_source.primary_key or []
    keyed = experiment.entity_key or config.serving.entity_key
    if experiment.mode == "ab" and not keyed and (not primary or set(primary) & set(hidden)):
        yield (
            "serving.experiment.entity_key",
            "an A/B experiment assigns arms by entity: give `serving.experiment.entity_key`"
            " or `serving.entity_key` (the event source has no primary key that requests carry)",
        )


def _training(config: PipelineConfig) -> Iterator[Problem]:
    if config.training is None:
        return
    known = set(config.features.definitions) | set(config.features.entity_columns)
    for i, column in enumerate(config.training.slice_columns):
        if column not in known:
            yield (
                f"training.slice_columns.{i}",
                f"{column!r} is neither a feature nor an entity column",
            )


def _monitoring(config: PipelineConfig) -> Iterator[Problem]:
    monitoring = config.monitoring
    if monitoring is None:
        return
    if config.training is None:
        yield "monitoring", "monitoring compares days with a champion: it needs `training`"
    if config.target.problem_type == "text_classification":
        return  # its drift judges text signals, checked with the target (target_checks)
    features = set(config.features.definitions)
    drift = monitoring.drift
    named = [(f"monitoring.drift.columns.{c}", c) for c in drift.columns]
    ignored = enumerate(drift.ignore_columns)
    named += [(f"monitoring.drift.ignore_columns.{i}", c) for i, c in ignored]
    for where, column in named:
        if column not in features:
            yield where, f"{column!r} is not a feature"


def _names(config: PipelineConfig) -> str:
    return ", ".join(sorted(config.sources))

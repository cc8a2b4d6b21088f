"""Checks of a config's history features (`target_rate`, `event_count`): the groups, the
days, the target."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .models import (
    ColumnType,
    DatetimePartFeature,
    HistoryFeature,
    PassthroughFeature,
    PipelineConfig,
    TargetRateFeature,
)

_GROUP_TYPES = {ColumnType.STR, ColumnType.CATEGORY, ColumnType.INT, ColumnType.BOOL}


def history_problems(
    config: PipelineConfig, columns: Mapping[str, ColumnType]
) -> Iterator[tuple[str, str]]:
    """History features read the days before the event, by groups of categorical features
    or calendar parts; a rate needs a target that has a mean."""
    definitions = config.features.definitions
    for name, feature in definitions.items():
        if not isinstance(feature, HistoryFeature):
            continue
        where = f"features.definitions.{name}"
        if config.partitioning is None:
            yield where, f"{feature.op} counts the days before an event: it needs `partitioning`"
        if (
            isinstance(feature, TargetRateFeature)
            and config.target.problem_type == "multiclass_classification"
        ):
            yield where, "target_rate needs a binary or regression target (a class has no rate)"
        for i, group in enumerate(feature.group):
            if not _groups_by(definitions.get(group), columns):
                yield (
                    f"{where}.group.{i}",
                    f"{group!r} is not a categorical feature (a passthrough of a text, "
                    "category, int or bool column) or a calendar part",
                )


def _groups_by(feature: object, columns: Mapping[str, ColumnType]) -> bool:
    if isinstance(feature, DatetimePartFeature):
        return True
    return isinstance(feature, PassthroughFeature) and columns.get(feature.column) in _GROUP_TYPES

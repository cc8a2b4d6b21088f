"""Checks of a config's history features (`target_rate`): the groups, the days, the target."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .models import ColumnType, PassthroughFeature, PipelineConfig, TargetRateFeature

_GROUP_TYPES = {ColumnType.STR, ColumnType.CATEGORY, ColumnType.INT, ColumnType.BOOL}


def history_problems(
    config: PipelineConfig, columns: Mapping[str, ColumnType]
) -> Iterator[tuple[str, str]]:
    """`target_rate` features count days before the event, by groups of categorical
    features, of a target that has a mean."""
    definitions = config.features.definitions
    for name, feature in definitions.items():
        if not isinstance(feature, TargetRateFeature):
            continue
        where = f"features.definitions.{name}"
        if config.partitioning is None:
            yield where, "target_rate counts the days before an event: it needs `partitioning`"
        if config.target.problem_type == "multiclass_classification":
            yield where, "target_rate needs a binary or regression target (a class has no rate)"
        for i, group in enumerate(feature.group):
            source = definitions.get(group)
            if not isinstance(source, PassthroughFeature) or (
                columns.get(source.column) not in _GROUP_TYPES
            ):
                yield (
                    f"{where}.group.{i}",
                    f"{group!r} is not a categorical feature (a passthrough of a text, "
                    "category, int or bool column)",
                )

"""Checks that a pipeline's target fits its problem type, and that the settings which
depend on the problem type (live metric, decision threshold) are ones it has."""

from __future__ import annotations

from collections.abc import Iterator

from .models import NUMERIC_TYPES, ColumnType, MulticlassTarget, PipelineConfig, RegressionTarget
from .monitoring import LIVE_METRICS

Problem = tuple[str, str]  # (key path, message)


def target_problems(config: PipelineConfig) -> Iterator[Problem]:
    target = config.target
    spec = config.event_source.columns.get(target.column) if config.sources else None
    if spec is not None:
        if isinstance(target, MulticlassTarget):
            yield from _multiclass(target, spec.type, spec.allowed)
        elif isinstance(target, RegressionTarget) and spec.type not in NUMERIC_TYPES:
            yield "target.column", f"a regression target must be int or float, not {spec.type}"
    kind = target.problem_type
    if kind != "binary_classification" and config.promotion.threshold is not None:
        yield "promotion.threshold", f"a decision threshold only applies to binary, not {kind}"
    if config.monitoring is not None:
        metric = config.monitoring.performance.metric
        if metric is not None and metric not in LIVE_METRICS[kind]:
            known = ", ".join(LIVE_METRICS[kind])
            yield "monitoring.performance.metric", f"{metric!r} is not a {kind} metric: {known}"


def _multiclass(
    target: MulticlassTarget, column_type: ColumnType, allowed: list[str] | None
) -> Iterator[Problem]:
    if target.mapping:
        if len(set(target.mapping.values())) < 2:
            yield "target.mapping", "a multiclass target needs at least 2 distinct classes"
        return
    if column_type not in {ColumnType.CATEGORY, ColumnType.STR} or not allowed:
        yield (
            "target.column",
            f"the classes come from the column's `allowed` values ({target.column!r} is "
            f"{column_type} without them): declare them, or give target.mapping",
        )
    elif len(allowed) < 2:
        yield "target.column", "a multiclass target needs at least 2 allowed classes"

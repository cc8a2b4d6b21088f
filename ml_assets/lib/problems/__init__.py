"""Problem types: binary and multiclass classification, regression, text classification;
`problem_for` picks the one a pipeline's target declares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Calibration, Metrics, PairedComparison, PrimaryMetric, Problem, ProblemKind

if TYPE_CHECKING:
    from ml_assets.lib.config.models import PipelineConfig

__all__ = [
    "Calibration",
    "Metrics",
    "PairedComparison",
    "PrimaryMetric",
    "Problem",
    "ProblemKind",
    "problem_for",
]


def problem_for(config: PipelineConfig) -> Problem:
    """The problem type of a pipeline, configured with its target (and classes)."""
    from ml_assets.lib.config.models import (
        BinaryTarget,
        MulticlassTarget,
        RegressionTarget,
        TextClassificationTarget,
    )

    target = config.target
    if isinstance(target, BinaryTarget):
        from .binary import BinaryProblem

        return BinaryProblem()
    if isinstance(target, MulticlassTarget):
        from .multiclass import MulticlassProblem

        return MulticlassProblem(target_classes(config))
    if isinstance(target, TextClassificationTarget):
        from .text import TextClassificationProblem

        return TextClassificationProblem(target_classes(config))
    if isinstance(target, RegressionTarget):
        from .regression import RegressionProblem

        return RegressionProblem(target.transform, target.interval_level)
    raise TypeError(f"unknown target {type(target).__name__}")


def target_classes(config: PipelineConfig) -> tuple[str, ...]:
    """A multiclass (or text) target's classes, in order: the mapping's distinct values, else the
    target column's declared `allowed` values."""
    target = config.target
    mapping = getattr(target, "mapping", None)
    if mapping:
        return tuple(dict.fromkeys(mapping.values()))
    spec = config.event_source.columns.get(target.column)
    allowed = spec.allowed if spec is not None else None
    if not allowed:
        raise ValueError(
            f"target.column {target.column!r} needs declared `allowed` values or a "
            "target.mapping to give the classes"
        )
    return tuple(allowed)

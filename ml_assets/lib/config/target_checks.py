"""Checks that a pipeline's target fits its problem type, and that the settings which
depend on the problem type (live metric, decision threshold) are ones it has."""

from __future__ import annotations

from collections.abc import Iterator

from .lifecycle import FAMILIES_BY_KIND
from .models import (
    NUMERIC_TYPES,
    ColumnType,
    MulticlassTarget,
    PipelineConfig,
    RegressionTarget,
    TextClassificationTarget,
)
from .monitoring import LIVE_METRICS, TEXT_COLUMN_SIGNALS, TEXT_SIGNALS

Problem = tuple[str, str]  # (key path, message)


def target_problems(config: PipelineConfig) -> Iterator[Problem]:
    target = config.target
    source = config.sources.get(config.event_source_name)  # unknown: reported elsewhere
    spec = source.columns.get(target.column) if source else None
    if spec is not None:
        if isinstance(target, MulticlassTarget | TextClassificationTarget):
            yield from _multiclass(target, spec.type, spec.allowed)
        elif isinstance(target, RegressionTarget) and spec.type not in NUMERIC_TYPES:
            yield "target.column", f"a regression target must be int or float, not {spec.type}"
    kind = target.problem_type
    if isinstance(target, TextClassificationTarget):
        yield from _text(config, target)
    elif config.text is not None:
        yield "text", f"`text` settings only apply to text_classification, not {kind}"
    if config.training is not None:
        yield from _families(config, kind)
    if kind != "binary_classification" and config.promotion.threshold is not None:
        yield "promotion.threshold", f"a decision threshold only applies to binary, not {kind}"
    if config.monitoring is not None and kind in LIVE_METRICS:
        metric = config.monitoring.performance.metric
        if metric is not None and metric not in LIVE_METRICS[kind]:
            known = ", ".join(LIVE_METRICS[kind])
            yield "monitoring.performance.metric", f"{metric!r} is not a {kind} metric: {known}"


def _text(config: PipelineConfig, target: TextClassificationTarget) -> Iterator[Problem]:
    """The text is a declared str column other than the label's; metadata columns are
    declared; what is not built for text yet is refused rather than half-run."""
    source = config.sources.get(config.event_source_name)
    columns = source.columns if source else {}
    spec = columns.get(target.text_column)
    if spec is None:
        yield "target.text_column", f"{target.text_column!r} is not a column of the event source"
    elif spec.type != ColumnType.STR:
        yield "target.text_column", f"the text column must be str, not {spec.type}"
    if target.text_column == target.column:
        yield "target.text_column", "the text column cannot also be the label's column"
    for i, column in enumerate(target.metadata_columns):
        if column not in columns:
            yield f"target.metadata_columns.{i}", f"{column!r} is not a column of the event source"
        elif column in (target.column, target.text_column):
            yield f"target.metadata_columns.{i}", f"{column!r} is the label's or the text's column"
    if config.monitoring is not None:
        yield from _text_monitoring(config)
    llm = config.training.candidates.get("llm_few_shot") if config.training else None
    if llm is not None and llm.enabled and (config.text is None or config.text.llm is None):
        yield "training.candidates.llm_few_shot", "the LLM classifier needs `text.llm`"
    if llm is not None and llm.search_space:
        yield "training.candidates.llm_few_shot.search_space", "llm_few_shot is not tuned"


def _text_monitoring(config: PipelineConfig) -> Iterator[Problem]:
    """A text pipeline's drift judges fixed signals (ml_assets.lib.text.monitoring), which
    per-column keys must name; its live metrics are the multiclass ones."""
    monitoring = config.monitoring
    assert monitoring is not None
    if config.partitioning is None:
        yield "monitoring", "monitoring of a text pipeline judges days: it needs `partitioning`"
    known = ", ".join(TEXT_SIGNALS)
    for name in monitoring.drift.columns:
        if name not in TEXT_COLUMN_SIGNALS:
            yield (
                f"monitoring.drift.columns.{name}",
                f"not a text drift signal with a stat test: {', '.join(TEXT_COLUMN_SIGNALS)}",
            )
    for i, name in enumerate(monitoring.drift.ignore_columns):
        if name not in TEXT_SIGNALS:
            yield f"monitoring.drift.ignore_columns.{i}", f"not a text drift signal: {known}"
    metric = monitoring.performance.metric
    allowed = LIVE_METRICS["multiclass_classification"]
    if metric is not None and metric not in allowed:
        yield (
            "monitoring.performance.metric",
            f"{metric!r} is not a text classification metric: {', '.join(allowed)}",
        )


def _multiclass(
    target: MulticlassTarget | TextClassificationTarget,
    column_type: ColumnType,
    allowed: list[str] | None,
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


def _families(config: PipelineConfig, kind: str) -> Iterator[Problem]:
    assert config.training is not None
    candidates = config.training.candidates
    for family in candidates:
        if kind not in FAMILIES_BY_KIND[family]:
            fits = sorted(f for f, kinds in FAMILIES_BY_KIND.items() if kind in kinds)
            yield (
                f"training.candidates.{family}",
                f"{family} is not a {kind} candidate; {kind} takes: {', '.join(fits)}",
            )
    stacking = candidates.get("stacking")
    if stacking is not None and stacking.enabled:
        members = [
            f for f, c in candidates.items() if c.enabled and f not in ("stacking", "xgboost")
        ]
        if len(members) < 2:
            yield (
                "training.candidates.stacking",
                "stacking combines the other enabled scikit-learn candidates: enable at least two "
                "besides xgboost",
            )
        if stacking.search_space:
            yield "training.candidates.stacking.search_space", "stacking is not tuned"

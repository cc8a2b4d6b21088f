"""The service's request model, derived from the pipeline's schema (one schema, three places).

Each declared event column a caller can know becomes a typed, documented field with the
schema's ranges, categories and pattern; unknown fields are refused (`extra="forbid"`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from .config.models import ColumnSpec, ColumnType, PipelineConfig
from .scoring import serving_columns

_PYTHON_TYPES: dict[ColumnType, Any] = {
    ColumnType.INT: int,
    ColumnType.FLOAT: float,
    ColumnType.BOOL: bool,
    ColumnType.STR: str,
    ColumnType.DATETIME: datetime,
}


def record_model(config: PipelineConfig, example: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model of one event record as a caller sends it."""
    fields: dict[str, Any] = {}
    for name, spec in serving_columns(config).items():
        annotation = _annotation(spec)
        constraints = _constraints(spec)
        description = spec.description or f"{name} ({spec.type})"
        examples = [example[name]] if example and name in example else None
        if spec.nullable:
            fields[name] = (
                annotation | None,
                Field(None, description=description, examples=examples, **constraints),
            )
        else:
            fields[name] = (
                annotation,
                Field(..., description=description, examples=examples, **constraints),
            )
    model_name = "".join(part.title() for part in config.partitioning.source.split("_")) + "Record"
    return create_model(
        model_name,
        __config__=ConfigDict(extra="forbid", strict=False),
        __doc__=f"One `{config.partitioning.source}` event of pipeline `{config.name}`.",
        **fields,
    )


def _annotation(spec: ColumnSpec) -> Any:
    if spec.type == ColumnType.CATEGORY:
        return Literal[tuple(spec.allowed or ())]
    return _PYTHON_TYPES[spec.type]


def _constraints(spec: ColumnSpec) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    if spec.min is not None:
        constraints["ge"] = int(spec.min) if spec.type == ColumnType.INT else spec.min
    if spec.max is not None:
        constraints["le"] = int(spec.max) if spec.type == ColumnType.INT else spec.max
    if spec.pattern is not None:
        constraints["pattern"] = spec.pattern
    return constraints

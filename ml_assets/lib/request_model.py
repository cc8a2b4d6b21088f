"""The service's request models, derived from the pipeline's schema (one schema, three places).

Each declared event column a caller can know becomes a typed, documented field with the
schema's ranges, categories and pattern; unknown fields are refused (`extra="forbid"`).
`record_model` takes one event as an object; `columns_model` takes a batch of events as
one list per column, whose elements carry the same type and constraints as the record's
field (`_value_type`), so both validate a value alike.

Types are strict where a lax parse would hide a client's mistake: an int field takes a
JSON integer only (not `true`, `"17"` or `17.0`), a float field a JSON number, a bool
field `true` or `false`. A datetime field takes text with a date and a time of day (ISO
8601 / RFC 3339, with or without an offset), not a Unix timestamp nor a date alone, in the
years the schema allows (`datetime_parts.serving_years`); where the schema names columns
that repeat a datetime's parts, a record whose parts disagree with it is refused.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    create_model,
    model_validator,
)

from .config.models import ColumnSpec, ColumnType, PipelineConfig
from .datetime_parts import YearRange, record_disagreement, serving_years
from .scoring import serving_columns

# Tree models compute in float32: a larger number would reach them as infinity (XGBoost's
# explanations refuse it), so a float without declared bounds is held to float32's range.
FLOAT32_MAX = 3.4028234663852886e38

# After the year: month, day, a time of day (seconds and fraction optional), an offset.
_AFTER_YEAR = r"-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})?"
_DATETIME_TEXT = re.compile(r"\d{4}" + _AFTER_YEAR)
# The same within GENERIC_YEARS, for the OpenAPI page and its clients (a schema's own
# years are narrower: its fields' descriptions give them).
DATETIME_PATTERN = "^(19|2[01])[0-9]{2}" + _AFTER_YEAR + "$"


def _datetime_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _DATETIME_TEXT.fullmatch(value) is None:
        raise ValueError(
            "expected a date and time of day as text, e.g. 2013-07-04T21:00:00Z "
            "(not a number, not a date alone)"
        )
    return value


def datetime_texts_ok(values: Sequence[Any]) -> bool:
    """Whether every value that is not None is text the datetime fields take (what their
    before-validator checks one value at a time)."""
    texts = [value for value in values if value is not None]
    return {str}.issuperset(map(type, texts)) and all(map(_DATETIME_TEXT.fullmatch, texts))


_PYTHON_TYPES: dict[ColumnType, Any] = {
    ColumnType.INT: Annotated[int, Strict()],
    ColumnType.FLOAT: Annotated[float, Strict()],
    ColumnType.BOOL: Annotated[bool, Strict()],
    ColumnType.STR: str,
}


def _datetime_type(years: YearRange) -> Any:
    return Annotated[
        datetime,
        BeforeValidator(_datetime_text),
        AfterValidator(years.check),
        Field(json_schema_extra={"pattern": DATETIME_PATTERN}),
    ]


def record_model(config: PipelineConfig, example: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model of one event record as a caller sends it."""
    fields: dict[str, Any] = {}
    schema = config.event_source.columns
    for name, spec in serving_columns(config).items():
        examples = [example[name]] if example and name in example else None
        fields[name] = (
            _value_type(name, schema),
            Field(
                None if spec.nullable else ...,
                description=_description(name, schema),
                examples=examples,
            ),
        )
    return create_model(
        _model_name(config, "Record"),
        __config__=ConfigDict(extra="forbid", strict=False),
        __doc__=f"One `{config.event_source_name}` event of pipeline `{config.name}`.",
        __validators__=_parts_validators(serving_columns(config), by_row=False),
        **fields,
    )


class EventColumns(BaseModel):
    """Base of `columns_model`'s models: every given column holds the same number of rows."""

    model_config = ConfigDict(extra="forbid", strict=False)

    @model_validator(mode="after")
    def _same_length(self) -> EventColumns:
        row_count(self)
        return self


def columns_model(
    config: PipelineConfig,
    example: dict[str, Any] | None = None,
    *,
    check_parts: bool = True,
    check_datetimes: bool = True,
) -> type[EventColumns]:
    """A pydantic model of a batch of event records sent as columns, one list per field.

    Required fields are required lists; nullable ones may be left out (all null). Every
    list holds 1 to `serving.max_batch_size` values and all have the same length.
    `check_parts=False` leaves out the row-by-row check of the datetime parts, for a
    caller that checks them on whole columns (`record_columns`); `check_datetimes=False`
    likewise leaves out the per-value checks of a datetime's text and years
    (`datetime_texts_ok`, `YearRange.bounds` on the typed column), which cost ten times the
    parse of the values.
    """
    max_rows = config.serving.max_batch_size
    fields: dict[str, Any] = {}
    schema = config.event_source.columns
    for name, spec in serving_columns(config).items():
        values: Any = list[_value_type(name, schema, check_datetimes)]  # type: ignore[misc]
        absent = " Leave it out when every row's value is null." if spec.nullable else ""
        fields[name] = (
            values | None if spec.nullable else values,
            Field(
                None if spec.nullable else ...,
                min_length=1,
                max_length=max_rows,
                description=f"{_description(name, schema).rstrip('.')}; one value per row.{absent}",
                examples=[[example[name]]] if example and name in example else None,
            ),
        )
    source = config.event_source_name
    return create_model(
        _model_name(config, "Columns"),
        __base__=EventColumns,
        __validators__=_parts_validators(serving_columns(config), by_row=True)
        if check_parts
        else {},
        __doc__=(
            f"`{source}` events of pipeline `{config.name}` as columns: one list per field, "
            f"all of the same length (1 to {max_rows} rows); row i is the i-th value of "
            "every list."
        ),
        **fields,
    )


def row_count(columns: BaseModel) -> int:
    """The rows of a columns model's instance; ValueError unless all its lists agree."""
    lengths = {
        name: len(values)
        for name, values in vars(columns).items()
        if isinstance(values, Sequence) and not isinstance(values, str)
    }
    if not lengths:
        raise ValueError("no columns given: send at least one column with one value per row")
    counts = Counter(lengths.values())
    if len(counts) > 1:
        rows = counts.most_common(1)[0][0]
        other = ", ".join(f"'{n}' has {k}" for n, k in lengths.items() if k != rows)
        raise ValueError(
            f"every column needs the same number of values: {other}, the others {rows}"
        )
    return next(iter(lengths.values()))


def _model_name(config: PipelineConfig, kind: str) -> str:
    return "".join(part.title() for part in config.event_source_name.split("_")) + kind


def _description(name: str, schema: Mapping[str, ColumnSpec]) -> str:
    spec = schema[name]
    text = spec.description or f"{name} ({spec.type})"
    if spec.type != ColumnType.DATETIME:
        return text
    years = serving_years(name, schema)
    return f"{text.rstrip('.')}. Years {years.first} to {years.last} ({years.origin})."


def _value_type(name: str, schema: Mapping[str, ColumnSpec], check_datetimes: bool = True) -> Any:
    """One value of the column: its type with the schema's constraints, None if nullable
    (a datetime without its text and year checks unless `check_datetimes`)."""
    spec = schema[name]
    if spec.type == ColumnType.DATETIME and not check_datetimes and not _constraints(spec):
        return datetime | None if spec.nullable else datetime
    value: Any = Annotated[_annotation(name, schema), Field(**_constraints(spec))]
    return value | None if spec.nullable else value


def _annotation(name: str, schema: Mapping[str, ColumnSpec]) -> Any:
    spec = schema[name]
    if spec.type == ColumnType.CATEGORY:
        return Literal[tuple(spec.allowed or ())]
    if spec.type == ColumnType.DATETIME:
        return _datetime_type(serving_years(name, schema))
    return _PYTHON_TYPES[spec.type]


def _parts_validators(columns: Mapping[str, ColumnSpec], *, by_row: bool) -> dict[str, Any]:
    """A model validator refusing a record (or a row of columns) whose part columns
    disagree with the datetime they repeat; none where the schema relates no columns."""
    related = {name: spec for name, spec in columns.items() if spec.parts is not None}
    if not related:
        return {}

    def parts_agree(model: BaseModel) -> BaseModel:
        given = vars(model)
        rows = range(row_count(model)) if by_row else [None]
        for row in rows:
            record = given if row is None else _row(given, row)
            for name, spec in related.items():
                if reason := record_disagreement(name, spec, record):
                    raise ValueError(reason if row is None else f"row {row}: {reason}")
        return model

    return {"_parts_agree": model_validator(mode="after")(parts_agree)}


def _row(columns: Mapping[str, Any], row: int) -> dict[str, Any]:
    return {name: values[row] for name, values in columns.items() if values is not None}


def _constraints(spec: ColumnSpec) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    if spec.type == ColumnType.FLOAT:  # unbounded columns: what a float32 model can take
        # NaN and infinity are refused as such ("finite number"), not as a bound they miss.
        constraints = {"ge": -FLOAT32_MAX, "le": FLOAT32_MAX, "allow_inf_nan": False}
    if spec.type == ColumnType.STR and not spec.nullable:
        # An empty text is a missing value wherever data is read (coerce_column): a
        # required text field must not take one and be scored as missing.
        constraints["min_length"] = 1
    if spec.min is not None:
        constraints["ge"] = int(spec.min) if spec.type == ColumnType.INT else spec.min
    if spec.max is not None:
        constraints["le"] = int(spec.max) if spec.type == ColumnType.INT else spec.max
    if spec.pattern is not None:
        constraints["pattern"] = spec.pattern
    return constraints

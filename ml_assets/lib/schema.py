"""One declared schema, turned into the pandas dtypes and the pandera schema that enforce it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from .config.models import ColumnSpec, ColumnType
from .datetime_parts import schema_years

if TYPE_CHECKING:
    import pandera.pandas as pa

PANDAS_DTYPES: dict[ColumnType, str] = {
    ColumnType.INT: "Int64",
    ColumnType.FLOAT: "float64",
    ColumnType.BOOL: "boolean",
    ColumnType.STR: "string",
    ColumnType.CATEGORY: "string",
    ColumnType.DATETIME: "datetime64[ns, UTC]",
}

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def coerce_column(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Convert raw values to the declared type; values that cannot be converted become null."""
    if spec.type in (ColumnType.INT, ColumnType.FLOAT):
        numbers = pd.to_numeric(values, errors="coerce")
        if spec.type == ColumnType.FLOAT:
            return numbers.astype("float64")
        # Out of the Int64 range (or infinite), the cast would silently wrap around.
        fits = (numbers == numbers.round()) & (numbers.abs() < 2**63)
        whole = numbers.where(numbers.isna() | fits)
        return whole.astype("Float64").astype("Int64")
    if spec.type == ColumnType.DATETIME:
        return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if spec.type == ColumnType.BOOL:
        if pd.api.types.is_bool_dtype(values):
            return values.astype("boolean")
        text = values.astype("string").str.strip().str.lower()
        mapped = text.map(lambda v: True if v in _TRUE else False if v in _FALSE else pd.NA)
        return mapped.astype("boolean")
    text = values.astype("string")
    return text.where(text.str.len() > 0)


def to_pandera_schema(
    columns: Mapping[str, ColumnSpec],
    primary_key: Sequence[str],
    name: str,
    text_columns: Sequence[str] = (),
) -> pa.DataFrameSchema:
    """The pandera schema for already-coerced data: nullability, ranges, categories, keys.

    `text_columns` are bookkeeping columns outside the declared schema (the event date).
    """
    import pandera.pandas as pa

    pa_columns = {}
    for column_name, spec in columns.items():
        checks = []
        if spec.min is not None:
            checks.append(pa.Check.ge(spec.min))
        if spec.max is not None:
            checks.append(pa.Check.le(spec.max))
        if spec.allowed is not None:
            checks.append(pa.Check.isin(spec.allowed))
        if spec.pattern is not None:
            checks.append(pa.Check.str_matches(spec.pattern))
        years = schema_years(column_name, columns) if spec.parts else None
        if years is not None:
            first, after = years.bounds()
            checks.append(pa.Check.in_range(first, after, include_max=False))
        pa_columns[column_name] = pa.Column(
            PANDAS_DTYPES[spec.type],
            checks=checks,
            nullable=spec.nullable,
            description=spec.description,
        )
    for column_name in text_columns:
        pa_columns[column_name] = pa.Column("string", description="partition day (YYYY-MM-DD)")
    return pa.DataFrameSchema(
        pa_columns,
        name=name,
        strict=True,
        unique=list(primary_key) or None,
        report_duplicates="exclude_first",
    )


def empty_frame(columns: Mapping[str, ColumnSpec]) -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype=PANDAS_DTYPES[spec.type]) for name, spec in columns.items()}
    )

"""Validated request records (or columns) as a typed frame, without per-value coercion.

The fast path of serving: records that passed the pydantic request model hold Python
values of their fields' types, so each column is built with its final dtype in one step;
anything else takes `coerce_column`, the path training uses. Columns validated by the
columnar request model take the same path without being turned into records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from .config.models import ColumnSpec, ColumnType
from .schema import coerce_column


def typed_events(
    records: Sequence[Mapping[str, Any]], columns: Mapping[str, ColumnSpec]
) -> pd.DataFrame:
    """Records as a frame of the declared dtypes, the same as `coerce_column` makes them.

    Records validated against the request model hold Python values of their fields' types,
    so each column is built with its final dtype in one step. A record with anything else
    (a missing key, a string for a number, an int beyond 2**53) takes the generic path:
    `coerce_column` on every column, as training does.
    """
    try:
        values = {name: [record[name] for record in records] for name in columns}
    except KeyError:
        return _coerced(pd.DataFrame.from_records(list(records), columns=list(columns)), columns)
    return _typed(values, columns, len(records))


def typed_columns(
    values: Mapping[str, Sequence[Any] | None], columns: Mapping[str, ColumnSpec]
) -> pd.DataFrame:
    """Columns of values, one sequence per field, as `typed_events` makes the same rows.

    The columnar twin of `typed_events`: row i is the i-th value of every sequence. A
    declared column that is absent or None is missing in every row; undeclared ones are
    ignored, as a record's extra keys are. The sequences must all have the same length.
    """
    lengths = {name: len(v) for name, v in values.items() if name in columns and v is not None}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"columns need one length, at least one of them; got {lengths}")
    rows = next(iter(lengths.values()))
    lists = {
        name: [None] * rows if (column := values.get(name)) is None else list(column)
        for name in columns
    }
    return _typed(lists, columns, rows)


def _typed(
    values: dict[str, list[Any]], columns: Mapping[str, ColumnSpec], rows: int
) -> pd.DataFrame:
    try:
        typed = {name: _TYPED[spec.type](values[name]) for name, spec in columns.items()}
    except _UntypedValueError:
        # The frame typed_events' generic path builds from the same rows as records.
        rows_as_tuples = list(zip(*values.values(), strict=True))
        return _coerced(pd.DataFrame.from_records(rows_as_tuples, columns=list(values)), columns)
    return pd.DataFrame(typed, index=pd.RangeIndex(rows))


def _coerced(raw: pd.DataFrame, columns: Mapping[str, ColumnSpec]) -> pd.DataFrame:
    typed = {name: coerce_column(raw[name], spec) for name, spec in columns.items()}
    return pd.DataFrame(typed, index=pd.RangeIndex(len(raw)))


class _UntypedValueError(Exception):
    """A value not of its field's Python type: the record was not validated."""


def _values_of(kinds: tuple[type, ...]) -> Callable[[list[Any]], list[Any]]:
    allowed = frozenset((*kinds, type(None)))

    def check(values: list[Any]) -> list[Any]:
        # The set of the values' types, built in C: a loop over 1000 values in Python cost
        # more than the column's conversion.
        if not allowed.issuperset(map(type, values)):
            raise _UntypedValueError
        return values

    return check


_FLOATS = _values_of((float,))
_INTS = _values_of((int,))
_BOOLS = _values_of((bool,))
_TEXTS = _values_of((str,))


def _int_column(values: list[Any]) -> Any:
    complete = None not in _INTS(values)
    try:
        if complete:
            data = np.array(values, dtype="int64")
            missing = np.zeros(len(values), dtype=bool)
        else:
            data = np.array([0 if v is None else v for v in values], dtype="int64")
            missing = np.array([v is None for v in values], dtype=bool)
    except OverflowError:
        raise _UntypedValueError from None
    # coerce_column goes through Float64: beyond 2**53 it would round, so leave those to it.
    if ((data >= 2**53) | (data <= -(2**53))).any():
        raise _UntypedValueError
    return pd.arrays.IntegerArray(data, missing)


def _float_column(values: list[Any]) -> Any:
    if None not in _FLOATS(values):
        return np.array(values, dtype="float64")
    return np.array([np.nan if v is None else v for v in values], dtype="float64")


def _text_column(values: list[Any]) -> Any:
    # An empty string is missing, as in coerce_column.
    return pd.array([v or None for v in _TEXTS(values)], dtype="string")


def _datetime_column(values: list[Any]) -> Any:
    """Nanoseconds since the epoch in UTC, computed exactly (to_datetime on Python datetimes
    converts each through its tzinfo, slowly); naive times are UTC, as in coerce_column."""
    nanos = []
    for value in values:
        if value is None:
            nanos.append(_NAT)
            continue
        # A pandas Timestamp (a datetime subclass) can hold nanoseconds: not this path.
        if (
            type(value) is not datetime
            or not _DATETIME_YEARS[0] <= value.year <= _DATETIME_YEARS[1]
        ):
            raise _UntypedValueError
        delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
        nanos.append(
            ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000
        )
    return pd.DatetimeIndex(np.array(nanos, dtype="int64").view("M8[ns]")).tz_localize("UTC")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.iinfo("int64").min
# Well inside what datetime64[ns] holds (1677-2262); times outside take the generic path.
_DATETIME_YEARS = (1700, 2200)


_TYPED: dict[ColumnType, Callable[[list[Any]], Any]] = {
    ColumnType.INT: _int_column,
    ColumnType.FLOAT: _float_column,
    ColumnType.BOOL: lambda values: pd.array(_BOOLS(values), dtype="boolean"),
    ColumnType.STR: _text_column,
    ColumnType.CATEGORY: _text_column,
    ColumnType.DATETIME: _datetime_column,
}

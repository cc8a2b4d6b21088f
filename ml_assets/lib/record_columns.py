"""Columnar validation of a request's list of records: one check per column, not per record.

The record request model (`request_model.record_model`) validates each record as its own
pydantic model: for 1000 records that is most of what a `/predict` batch costs beyond the
scoring. `RecordColumnsValidator` checks the same list as columns instead: the records'
keys once per record (unknown keys, missing required ones), then every field's values as
one list through the columnar request model (`request_model.columns_model`), whose
elements carry exactly the record fields' types and constraints. The columns are then
typed for scoring (`typed_events.typed_columns`), and on the typed frame the columns that
repeat a datetime's parts are compared with it in one step per part, where the record
model converts each record's datetime to the parts' zone on its own; a datetime's text
and its years are likewise checked once per column (`datetime_texts_ok`, `years_in_range`),
not by the columnar model's per-value validators.

It never refuses anything itself. It either accepts a body, giving the validated columns
(`RecordBatch`), or declines (None); the caller then validates the body with the record
model as before, which accepts it or raises the validation error a client has always
seen. So what is accepted can only shrink, never grow, by a mistake here, and every error
stays the record model's own. What it accepts, the record model accepts too, with the same
values (tests/test_record_columns.py checks both over the schema's values and edge cases):
the columnar model runs in Python mode on the values pydantic-core's JSON parser gives, and
for those values (dict, list, str, int, float, bool, None) its strict and lax rules are the
JSON mode's.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pydantic_core
from pydantic import BaseModel, ValidationError

from .config.models import ColumnSpec, ColumnType, PipelineConfig
from .datetime_parts import YearRange, serving_years
from .request_model import columns_model, datetime_texts_ok
from .scoring import serving_columns
from .typed_events import typed_columns


class ValidatedRecord:
    """One record of a `RecordBatch`: its `vars()` are its field values, as those of a
    record validated by the record model (every field, None where it was left out)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values


class RecordBatch(Sequence[ValidatedRecord]):
    """Records validated as columns: `columns` holds one list of validated values per
    field (in the record model's field order), `events` the same rows typed for scoring
    (what `Scorer.events_frame` gives for the records), and the batch reads as the
    records."""

    def __init__(self, columns: dict[str, list[Any]], events: pd.DataFrame) -> None:
        self.columns = columns
        self.events = events
        self.rows = len(events)

    def __len__(self) -> int:
        return self.rows

    @overload
    def __getitem__(self, index: int) -> ValidatedRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[ValidatedRecord]: ...
    def __getitem__(self, index: int | slice) -> ValidatedRecord | list[ValidatedRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.rows))]
        position = range(self.rows)[index]  # IndexError as a list gives it
        return ValidatedRecord({name: values[position] for name, values in self.columns.items()})

    def __iter__(self) -> Iterator[ValidatedRecord]:
        names = list(self.columns)
        for values in zip(*self.columns.values(), strict=True):
            yield ValidatedRecord(dict(zip(names, values, strict=True)))


class RecordColumnsValidator:
    """Validates a request body `{"<field>": [record, ...]}` as columns, or declines."""

    def __init__(self, config: PipelineConfig, field: str = "records") -> None:
        spec = serving_columns(config)
        self.field = field
        self.names = tuple(spec)
        self._getter = operator.itemgetter(*self.names)
        self.allowed = frozenset(spec)
        self.required = frozenset(name for name, column in spec.items() if not column.nullable)
        self.max_rows = config.serving.max_batch_size
        self.specs = spec
        self.related = {name: column for name, column in spec.items() if column.parts}
        self.columns: type[BaseModel] = columns_model(
            config, check_parts=False, check_datetimes=False
        )
        schema = config.event_source.columns
        self.datetimes = {
            name: serving_years(name, schema)
            for name, column in spec.items()
            if column.type == ColumnType.DATETIME
        }

    def validate_json(self, body: bytes, min_rows: int = 1) -> RecordBatch | None:
        """The body's records as validated columns; None when the record model must
        decide (anything unusual, anything invalid, fewer than `min_rows` records)."""
        try:
            parsed = pydantic_core.from_json(body)
        except ValueError:
            return None
        return self.validate_parsed(parsed, min_rows)

    def validate_parsed(self, parsed: Any, min_rows: int = 1) -> RecordBatch | None:
        """`validate_json` of a body already parsed by `pydantic_core.from_json` (with
        its defaults). The records are read, never changed."""
        if type(parsed) is not dict or parsed.keys() != {self.field}:
            return None
        records = parsed[self.field]
        if type(records) is not list or len(records) < min_rows:
            return None
        return self.validate_records(records)

    def validate_records(self, records: Any) -> RecordBatch | None:
        """`records` (as parsed from JSON) as validated columns, or None (see above)."""
        columns = self._transposed(records)
        if columns is None or not all(datetime_texts_ok(columns[n]) for n in self.datetimes):
            return None
        try:
            validated = self.columns.model_validate(columns)
        except ValidationError:
            return None
        values = vars(validated)
        columns = {name: values[name] for name in self.names}
        events = typed_columns(columns, self.specs)
        if not years_in_range(columns, events, self.datetimes):
            return None
        if not parts_agree(columns, events, self.related):
            return None
        return RecordBatch(columns, events)

    def _transposed(self, records: Any) -> dict[str, list[Any]] | None:
        """One list per field, None for a field a record leaves out; None unless `records`
        is a list of 1 to max_rows objects with no unknown key and every required one."""
        if type(records) is not list or not 1 <= len(records) <= self.max_rows:
            return None
        complete = self._complete(records)
        if complete is not None:
            return complete
        allowed, required = self.allowed, self.required
        for record in records:
            if type(record) is not dict:
                return None
            keys = record.keys()
            if not keys <= allowed or not required <= keys:
                return None
        return {name: [record.get(name) for record in records] for name in self.names}

    def _complete(self, records: list[Any]) -> dict[str, list[Any]] | None:
        """The columns when every record is an object holding every field and no other key
        (the usual batch), transposed without a Python loop per record; else None. A dict
        of as many keys as there are fields, from which every field can be taken, holds
        exactly the fields."""
        if set(map(type, records)) != {dict} or set(map(len, records)) != {len(self.names)}:
            return None
        try:
            rows = list(map(self._getter, records))
        except KeyError:
            return None
        if len(self.names) == 1:
            return {self.names[0]: rows}
        return dict(zip(self.names, map(list, zip(*rows, strict=True)), strict=True))


def years_in_range(
    columns: Mapping[str, Sequence[Any]], events: pd.DataFrame, years: Mapping[str, YearRange]
) -> bool:
    """Whether every given datetime of the columns `years` names is in its years (read in
    the range's zone), as `YearRange.check` decides per value: on the typed column (UTC),
    against the range's first instant and the first instant after it."""
    for name, allowed in years.items():
        typed = pd.DatetimeIndex(events[name])
        first, after = allowed.bounds()
        given = _given(columns[name])
        inside = typed.notna() & (typed >= first) & (typed < after)
        if (given & ~inside).any():
            return False
    return True


def parts_agree(
    columns: Mapping[str, Sequence[Any]], events: pd.DataFrame, related: Mapping[str, ColumnSpec]
) -> bool:
    """Whether in every row the columns that repeat a datetime's parts hold what the
    datetime says in the parts' zone, wherever both are given: what
    `datetime_parts.record_disagreement` checks per record, on whole columns. `columns`
    are the validated values (a part column is an int column, checked when the config
    loads, so they are Python ints or None), `events` the same rows typed (datetimes in
    UTC), `related` the datetime columns that have `parts`. False at the first
    disagreement, and for an int beyond int64 (the per-record check then decides)."""
    for name, spec in related.items():
        assert spec.parts is not None
        # The parts' zone as the record model reads it (zoneinfo), converted once: each
        # field of a zone-aware index would convert again.
        zone = ZoneInfo(spec.parts.timezone)
        local = pd.DatetimeIndex(events[name]).tz_convert(zone).tz_localize(None)
        given = local.notna()
        for part, column in spec.parts.columns.items():
            if column not in columns:  # not a serving column: never given
                continue
            sent = columns[column]
            try:
                values, present = _ints_given(sent)
            except OverflowError:
                return False
            expected = getattr(local, part).to_numpy(dtype="int64", na_value=0)
            if (given & present & (values != expected)).any():
                return False
    return True


def _given(values: Sequence[Any]) -> Any:
    """Per value, whether it is not None (a bool array)."""
    if None not in values:  # the common case, tested in C
        return np.ones(len(values), dtype=bool)
    return np.array([value is not None for value in values], dtype=bool)


def _ints_given(values: Sequence[Any]) -> tuple[Any, Any]:
    """Validated ints or None as int64 (0 for None; OverflowError beyond int64) and
    whether each is given."""
    if None not in values:
        return np.array(values, dtype="int64"), np.ones(len(values), dtype=bool)
    ints = np.array([0 if value is None else value for value in values], dtype="int64")
    return ints, _given(values)

"""Hypothesis strategies for request records that a pipeline's schema admits.

Every value is what the request model accepts for its column spec: numbers within
min/max, a category from `allowed`, text fully matching `pattern`, None sometimes where
the column is nullable, times inside the partition range (in the partition's time zone),
and the columns that repeat a datetime's parts in agreement with it. Records come as
JSON-ready dicts, the way a client sends them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import ColumnSpec, ColumnType
from ml_assets.lib.request_model import FLOAT32_MAX
from ml_assets.lib.scoring import serving_columns


def value_strategy(
    spec: ColumnSpec, time_range: tuple[date, date], timezone: str
) -> st.SearchStrategy[Any]:
    """JSON values of one column that its spec admits."""
    values: st.SearchStrategy[Any]
    match spec.type:
        case ColumnType.INT:
            low = None if spec.min is None else int(spec.min)
            high = None if spec.max is None else int(spec.max)
            values = st.integers(min_value=low, max_value=high)
        case ColumnType.FLOAT:
            low = -FLOAT32_MAX if spec.min is None else spec.min
            high = FLOAT32_MAX if spec.max is None else spec.max
            values = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
        case ColumnType.BOOL:
            values = st.booleans()
        case ColumnType.CATEGORY:
            values = st.sampled_from(spec.allowed or [])
        case ColumnType.STR if spec.allowed:
            values = st.sampled_from(spec.allowed)
        case ColumnType.STR if spec.pattern is not None:
            values = st.from_regex(spec.pattern, fullmatch=True)
        case ColumnType.STR:
            # An empty text is a missing value: valid only where the column is nullable.
            values = st.text(min_size=0 if spec.nullable else 1)
        case ColumnType.DATETIME:
            start, end = time_range
            values = st.datetimes(
                min_value=datetime.combine(start, time.min),
                max_value=datetime.combine(end, time.max),
                timezones=st.just(ZoneInfo(timezone)),
                allow_imaginary=False,
            ).map(datetime.isoformat)
    return st.none() | values if spec.nullable else values


def record_strategy(config: PipelineConfig) -> st.SearchStrategy[dict[str, Any]]:
    """One request record of the pipeline: every serving column, each a valid value."""
    partitioning = config.partitioning
    if partitioning is None:  # a static table: datetimes of any recent year
        time_range = (date(2000, 1, 1), date(2030, 12, 31))
    else:  # an open-ended pipeline: a year of partitions
        end = partitioning.end_date or partitioning.start_date + timedelta(days=365)
        time_range = (partitioning.start_date, end)
    columns = serving_columns(config)
    records = st.fixed_dictionaries(
        {name: value_strategy(spec, time_range, config.timezone) for name, spec in columns.items()}
    )
    return records.map(lambda record: agreeing_parts(record, columns))


def agreeing_parts(record: dict[str, Any], columns: dict[str, ColumnSpec]) -> dict[str, Any]:
    """`record` with the columns that repeat a datetime's parts (`parts:`) set from it, as
    the schema requires of a valid record."""
    out = dict(record)
    for name, spec in columns.items():
        if spec.parts is None or out.get(name) is None:
            continue
        local = datetime.fromisoformat(out[name]).astimezone(ZoneInfo(spec.parts.timezone))
        for part, column in spec.parts.columns.items():
            if column in out:
                out[column] = getattr(local, part)
    return out


def batch_strategy(
    config: PipelineConfig, min_size: int = 1, max_size: int = 5
) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(record_strategy(config), min_size=min_size, max_size=max_size)

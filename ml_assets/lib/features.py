"""Feature engineering from a pipeline config: joins, declared feature ops and the label.

Only the ops defined here can be named in a config; there is no evaluation of user code.
The same functions run at training and at serving time, so the two cannot drift apart.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from .config.models import (
    AgeFeature,
    BucketFeature,
    ColumnType,
    DatetimePartFeature,
    DifferenceFeature,
    FeatureSpec,
    HhmmToMinutesFeature,
    HistoryFeature,
    HolidayDistanceFeature,
    IsMissingFeature,
    JoinConfig,
    Log1pFeature,
    MulticlassTarget,
    PassthroughFeature,
    PipelineConfig,
    RatioFeature,
    RegressionTarget,
    TargetConfig,
    TextClassificationTarget,
)
from .config.references import available_columns
from .holiday_calendar import country_holidays, days_from_nearest, years_around

EVENT_DATE = "event_date"
FeatureKind = Literal["numeric", "categorical"]
# Columns by name, all of one row order (a frame's `items()`, or serving's joined columns).
Columns = Mapping[Any, pd.Series]

# pandas' name of each datetime part; only the asked one is computed (one per feature).
_DATETIME_PARTS = {
    "hour": "hour",
    "day_of_week": "dayofweek",
    "month": "month",
    "day_of_year": "dayofyear",
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def build_features(
    events: pd.DataFrame,
    references: Mapping[str, pd.DataFrame],
    config: PipelineConfig,
    *,
    with_target: bool = True,
) -> pd.DataFrame:
    """Entity columns, event date, every declared feature and the label, one row per event.

    Serving calls this with `with_target=False`: the label's source is not known yet.
    """
    joined = join_references(events, references, config.joins)
    return features_frame(feature_columns(dict(joined.items()), config, with_target=with_target))


def feature_columns(
    joined: Columns, config: PipelineConfig, *, with_target: bool = True
) -> dict[str, pd.Series]:
    """`build_features`' columns from already joined columns (all of one row order).

    Serving joins by index lookup and calls this on the columns directly: a DataFrame of
    a few rows costs more to build than all the feature ops on it.
    """
    inputs = FeatureInputs(joined)
    out: dict[str, pd.Series] = {}
    for column in config.features.entity_columns:
        out[column] = joined[column]
    if isinstance(config.target, TextClassificationTarget):
        # The text and its metadata travel with the example, as entity columns do.
        for column in [config.target.text_column, *config.target.metadata_columns]:
            out.setdefault(column, joined[column])
    if EVENT_DATE in joined:
        out[EVENT_DATE] = joined[EVENT_DATE]
    elif history_ops(config) and config.partitioning is not None:
        # The day history features are read for: at serving, the event time's local date.
        out[EVENT_DATE] = local_days(joined[config.partitioning.time_column], config.timezone)
    default_tz = config.timezone
    for name, spec in config.features.definitions.items():
        if not isinstance(spec, HistoryFeature):  # the model's feature spec computes those
            out[name] = compute_feature(inputs, spec, default_tz)
    if with_target:
        out[config.target.name] = compute_target(joined, config.target)
    return out


def features_frame(columns: Columns) -> pd.DataFrame:
    """The columns of `feature_columns` as a frame with a fresh RangeIndex.

    Built from the columns' arrays: they share one row order, so pandas' alignment of
    their indexes (and the copy reset_index would make) is pure cost, most of it on a
    frame of a few rows.
    """
    index = pd.RangeIndex(len(next(iter(columns.values()))) if columns else 0)
    return pd.DataFrame({name: _values(s, index) for name, s in columns.items()}, index=index)


def _values(series: pd.Series, index: pd.RangeIndex) -> Any:
    if series.dtype == object:
        # From a bare object array pandas would infer a type (e.g. datetimes) it lacks.
        return pd.Series(series.to_numpy(), index=index, dtype=object)
    return series.array


def join_references(
    events: pd.DataFrame, references: Mapping[str, pd.DataFrame], joins: list[JoinConfig]
) -> pd.DataFrame:
    """Left-join each reference table on its key; the event rows are never multiplied."""
    joined = events.reset_index(drop=True)
    for join in joins:
        reference = references[join.source]
        right = reference[list(join.keys.values()) + list(join.columns)]
        event_names = {ref_col: event_col for event_col, ref_col in join.keys.items()}
        right = right.rename(columns={**join.columns, **event_names})
        if right.duplicated(list(join.keys)).any():
            raise ValueError(f"reference {join.source!r} has duplicate keys {list(join.keys)}")
        joined = joined.merge(right, on=list(join.keys), how="left", validate="many_to_one")
    if len(joined) != len(events):
        raise AssertionError(f"joins changed the row count: {len(events)} -> {len(joined)}")
    return joined


class FeatureInputs:
    """Joined columns by name, with the conversions several features share done once.

    The calendar features of one column all convert it to the same time zone, and numeric
    ops read columns as float64: once per column instead of once per feature.
    """

    def __init__(self, columns: Columns) -> None:
        self._columns = columns
        self._local: dict[tuple[str, str], pd.DatetimeIndex] = {}
        self._floats: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        return self._columns[name]

    def local_time(self, column: str, tz: str) -> pd.DatetimeIndex:
        key = (column, tz)
        if key not in self._local:
            series = self._columns[column]
            if not isinstance(series.dtype, pd.DatetimeTZDtype):
                # What .dt.tz_convert says; DatetimeIndex would parse text instead.
                raise TypeError(f"{column!r} is {series.dtype}, not a time zone aware datetime")
            self._local[key] = pd.DatetimeIndex(self._columns[column]).tz_convert(tz)
        return self._local[key]

    def floats(self, column: str) -> pd.Series:
        if column not in self._floats:
            self._floats[column] = self._columns[column].astype("float64")
        return self._floats[column]


def compute_feature(
    frame: pd.DataFrame | FeatureInputs, spec: FeatureSpec, default_tz: str
) -> pd.Series:
    inputs = frame if isinstance(frame, FeatureInputs) else FeatureInputs(dict(frame.items()))
    match spec:
        case PassthroughFeature(column=column):
            return inputs[column]
        case DatetimePartFeature(op=op, column=column, timezone=tz):
            return _datetime_part(inputs, op, column, tz or default_tz)
        case HhmmToMinutesFeature(column=column):
            hhmm = inputs[column]
            # On the array: a Series op per step costs more than the maths on a few rows.
            values = hhmm.array
            return pd.Series((values // 100) * 60 + values % 100, index=hhmm.index, name=hhmm.name)
        case RatioFeature(numerator=num, denominator=den):
            denominator = inputs.floats(den).replace(0.0, np.nan)
            return inputs.floats(num) / denominator
        case DifferenceFeature(left=left, right=right):
            return inputs.floats(left) - inputs.floats(right)
        case AgeFeature(column=column, reference=reference):
            return reference - inputs.floats(column)
        case Log1pFeature(column=column):
            values = inputs.floats(column)
            return pd.Series(np.log1p(values.where(values > -1)), index=values.index)
        case IsMissingFeature(column=column):
            return inputs[column].isna().astype("Int64")
        case BucketFeature(column=column, edges=edges):
            bins = pd.cut(inputs.floats(column), edges, labels=False, include_lowest=True)
            return bins.astype("Int64")
        case HolidayDistanceFeature():
            return _holiday_distance(inputs, spec, spec.timezone or default_tz)
    raise TypeError(f"unsupported feature spec {spec!r}")


def _datetime_part(inputs: FeatureInputs, op: str, column: str, tz: str) -> pd.Series:
    """A calendar part of local time as Int64, null where the time is null."""
    source = inputs[column]
    local = inputs.local_time(column, tz)
    missing = np.asarray(local.isna())
    if op == "is_weekend":
        values = (np.asarray(local.dayofweek) >= 5).astype("int64")
    else:
        # A part of NaT is NaN (float): zeroed under the mask. Building the IntegerArray
        # from values and mask skips pandas' NaN coercion, a third of a request's part.
        values = np.asarray(getattr(local, _DATETIME_PARTS[op]))
        values = np.where(missing, 0, values).astype("int64") if missing.any() else values
    part = pd.arrays.IntegerArray(values.astype("int64", copy=False), missing)
    return pd.Series(part, index=source.index, name=source.name)


def _holiday_distance(inputs: FeatureInputs, spec: HolidayDistanceFeature, tz: str) -> pd.Series:
    """Signed days from the local date to the nearest holiday of the calendar, as Int64."""
    source = inputs[spec.column]
    local = inputs.local_time(spec.column, tz)
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    calendar = spec.calendar
    if calendar.country is not None:
        marks: Any = country_holidays(calendar.country, calendar.subdivision, years_around(days))
    else:
        marks = calendar.dates or []
    distance = days_from_nearest(days, marks, spec.max_days)
    part = pd.array(distance, dtype="Int64")
    return pd.Series(part, index=source.index, name=source.name)


def local_days(times: pd.Series, tz: str) -> pd.Series:
    """`YYYY-MM-DD` of each time in `tz`, as the partitions name days; missing stays missing."""
    local = pd.DatetimeIndex(times).tz_convert(tz).tz_localize(None)
    days = np.datetime_as_string(local.to_numpy().astype("datetime64[D]"), unit="D")
    return pd.Series(days, index=times.index, dtype="string").where(~np.asarray(local.isna()))


def history_ops(config: PipelineConfig) -> dict[str, HistoryFeature]:
    """The history features (`target_rate`, `event_count`), which the model's feature spec
    fits and computes."""
    return {
        name: spec
        for name, spec in config.features.definitions.items()
        if isinstance(spec, HistoryFeature)
    }


def frame_features(config: PipelineConfig) -> list[str]:
    """The declared features a features frame holds (all but the history features)."""
    history = history_ops(config)
    return [name for name in config.features.definitions if name not in history]


def compute_target(frame: pd.DataFrame | Columns, target: TargetConfig) -> pd.Series:
    """The label; null where the target column is null (e.g. an event that never took
    place). Binary: a boolean; multiclass: the class name (null for a value the mapping
    does not name); regression: the number as a float."""
    values = frame[target.column]
    if isinstance(target, MulticlassTarget | TextClassificationTarget):
        text = values.astype("string")
        classes = text.map(target.mapping) if target.mapping else text
        return pd.Series(classes, index=values.index, dtype="string").where(values.notna())
    if isinstance(target, RegressionTarget):
        return pd.Series(pd.to_numeric(values), index=values.index, dtype="Float64")
    label = _COMPARE[target.op](values, target.value)
    return pd.Series(label, index=values.index).astype("boolean").where(values.notna())


def feature_kinds(config: PipelineConfig, *, with_history: bool = True) -> dict[str, FeatureKind]:
    """Whether each feature is numeric or categorical, as a model needs to know; without
    the history features, those of a features frame."""
    columns = available_columns(config)
    kinds: dict[str, FeatureKind] = {}
    history = {} if with_history else history_ops(config)
    for name, spec in config.features.definitions.items():
        if name in history:
            continue
        categorical = isinstance(spec, PassthroughFeature) and columns[spec.column] in {
            ColumnType.STR,
            ColumnType.CATEGORY,
            ColumnType.BOOL,
        }
        kinds[name] = "categorical" if categorical else "numeric"
    return kinds

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
    IsMissingFeature,
    JoinConfig,
    Log1pFeature,
    PassthroughFeature,
    PipelineConfig,
    RatioFeature,
    TargetConfig,
)
from .config.references import available_columns

EVENT_DATE = "event_date"
FeatureKind = Literal["numeric", "categorical"]

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
    out: dict[str, pd.Series] = {}
    for column in config.features.entity_columns:
        out[column] = joined[column]
    if EVENT_DATE in joined.columns:
        out[EVENT_DATE] = joined[EVENT_DATE]
    default_tz = config.partitioning.timezone
    for name, spec in config.features.definitions.items():
        out[name] = compute_feature(joined, spec, default_tz)
    if with_target:
        out[config.target.name] = compute_target(joined, config.target)
    frame = pd.DataFrame(out, index=joined.index)
    # What reset_index(drop=True) gives, without its copy of every column (most of the
    # cost of a one-record frame).
    frame.index = pd.RangeIndex(len(frame))
    return frame


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


def compute_feature(frame: pd.DataFrame, spec: FeatureSpec, default_tz: str) -> pd.Series:
    match spec:
        case PassthroughFeature(column=column):
            return frame[column]
        case DatetimePartFeature(op=op, column=column, timezone=tz):
            local = frame[column].dt.tz_convert(tz or default_tz)
            if op == "is_weekend":
                return (local.dt.dayofweek >= 5).astype("Int64").where(local.notna())
            return getattr(local.dt, _DATETIME_PARTS[op]).astype("Int64")
        case HhmmToMinutesFeature(column=column):
            hhmm = frame[column]
            return (hhmm // 100) * 60 + hhmm % 100
        case RatioFeature(numerator=num, denominator=den):
            denominator = frame[den].astype("float64").replace(0.0, np.nan)
            return frame[num].astype("float64") / denominator
        case DifferenceFeature(left=left, right=right):
            return frame[left].astype("float64") - frame[right].astype("float64")
        case AgeFeature(column=column, reference=reference):
            return reference - frame[column].astype("float64")
        case Log1pFeature(column=column):
            values = frame[column].astype("float64")
            return pd.Series(np.log1p(values.where(values > -1)), index=frame.index)
        case IsMissingFeature(column=column):
            return frame[column].isna().astype("Int64")
        case BucketFeature(column=column, edges=edges):
            bins = pd.cut(frame[column].astype("float64"), edges, labels=False, include_lowest=True)
            return bins.astype("Int64")
    raise TypeError(f"unsupported feature spec {spec!r}")


def compute_target(frame: pd.DataFrame, target: TargetConfig) -> pd.Series:
    """The label; null where the target column is null (e.g. a cancelled flight)."""
    values = frame[target.column]
    label = _COMPARE[target.op](values, target.value)
    return pd.Series(label, index=frame.index).astype("boolean").where(values.notna())


def feature_kinds(config: PipelineConfig) -> dict[str, FeatureKind]:
    """Whether each feature is numeric or categorical, as a model needs to know."""
    columns = available_columns(config)
    kinds: dict[str, FeatureKind] = {}
    for name, spec in config.features.definitions.items():
        categorical = isinstance(spec, PassthroughFeature) and columns[spec.column] in {
            ColumnType.STR,
            ColumnType.CATEGORY,
            ColumnType.BOOL,
        }
        kinds[name] = "categorical" if categorical else "numeric"
    return kinds

"""The model's view of the features: column order, kinds, categories, saved as JSON.

The same spec turns a features frame into a model matrix at training, evaluation and
serving time, so a category unseen in training becomes missing, never a crash. It also
carries the history tables of `target_rate` and `event_count` features (fitted on the rows
the model is fitted on), which it computes for each row from the row's group and day.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .config.feature_ops import HistoryFeature, TargetRateFeature
from .features import EVENT_DATE, Columns, FeatureKind
from .group_history import GroupHistory


@dataclass(frozen=True)
class FeatureSpec:
    label: str
    numeric: list[str]
    categorical: dict[str, list[str]] = field(default_factory=dict)
    history: dict[str, GroupHistory] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        kinds: Mapping[str, FeatureKind],
        label: str,
        history: Mapping[str, HistoryFeature] | None = None,
        history_rows: pd.DataFrame | None = None,
    ) -> FeatureSpec:
        """Learn the category levels from training rows; numeric columns keep their order.
        `history` features are fitted on `history_rows` (default: the training rows), the
        labelled rows with their day (`event_date`) that the model is finally fitted on."""
        numeric = [name for name, kind in kinds.items() if kind == "numeric"]
        categorical = {
            name: sorted(str(v) for v in frame[name].dropna().unique())
            for name, kind in kinds.items()
            if kind == "categorical"
        }
        rows = frame if history_rows is None else history_rows
        tables = {name: _fit_history(op, rows, label) for name, op in (history or {}).items()}
        return cls(label=label, numeric=numeric, categorical=categorical, history=tables)

    def with_history(self, frame: pd.DataFrame | Columns) -> Any:
        """`frame` with the history features computed from its groups and `event_date`
        (a DataFrame stays one; columns stay a dict)."""
        if not self.history:
            return frame
        if EVENT_DATE not in frame:
            raise KeyError(f"history features need the event's day ({EVENT_DATE!r})")
        days = frame[EVENT_DATE]
        added = {
            name: table.transform([frame[g] for g in table.group], days)
            for name, table in self.history.items()
        }
        if isinstance(frame, pd.DataFrame):
            return frame.assign(**added)
        index = days.index
        return dict(frame) | {n: pd.Series(v, index=index, name=n) for n, v in added.items()}

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model input: numeric as float64, categorical with the training levels only."""
        frame = self.with_history(frame)
        self._check_columns(frame)
        out: dict[str, Any] = {name: self._numeric(frame[name]) for name in self.numeric}
        for name, dtype in self._category_dtypes.items():
            out[name] = pd.Categorical.from_codes(self._codes(name, frame[name]), dtype=dtype)
        return pd.DataFrame(out, index=frame.index)

    def codes_array(self, frame: pd.DataFrame | Columns) -> np.ndarray:
        """`matrix` as one float64 array: a category is its position in the levels, NaN if
        missing or unseen. For models that store the same levels (XGBoost does) this is the
        same input without a DataFrame, which costs more than the model on a small request;
        so `frame` may also be the features' columns, not yet made a frame.
        """
        frame = self.with_history(frame)
        self._check_columns(frame)
        rows = len(frame[self.columns[0]]) if self.columns else len(frame)
        out = np.empty((rows, len(self.columns)), dtype="float64")
        for i, name in enumerate(self.numeric):
            out[:, i] = self._numeric(frame[name])
        for i, name in enumerate(self.categorical, start=len(self.numeric)):
            codes = self._codes(name, frame[name])
            out[:, i] = np.where(codes < 0, np.nan, codes)
        return out

    def _check_columns(self, frame: pd.DataFrame | Columns) -> None:
        missing = [c for c in self.columns if c not in frame]
        if missing:
            raise KeyError(f"features missing from the input: {', '.join(missing)}")

    @staticmethod
    def _numeric(column: pd.Series) -> np.ndarray:
        if column.dtype == "float64" or isinstance(column.dtype, pd.Int64Dtype):
            return column.to_numpy(dtype="float64", na_value=np.nan)
        return pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()

    def _codes(self, name: str, column: pd.Series) -> np.ndarray:
        """Each value's position in the training levels (as text), -1 if missing or unseen."""
        if isinstance(column.dtype, pd.StringDtype):
            values = column.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
        else:
            values = column.astype("string").astype(object).where(column.notna(), None).to_numpy()
        return np.asarray(self._category_dtypes[name].categories.get_indexer(values))

    @cached_property
    def _category_dtypes(self) -> dict[str, pd.CategoricalDtype]:
        return {name: pd.CategoricalDtype(levels) for name, levels in self.categorical.items()}

    def labels(self, frame: pd.DataFrame) -> pd.Series:
        """The label as 0/1 integers; raises if any row has no label."""
        label = frame[self.label]
        if label.isna().any():
            raise ValueError(f"{int(label.isna().sum())} rows have no label {self.label!r}")
        return label.astype(bool).astype("int64")

    def to_dict(self) -> dict[str, Any]:
        out = {"label": self.label, "numeric": self.numeric, "categorical": self.categorical}
        if self.history:
            out["history"] = {name: table.to_dict() for name, table in self.history.items()}
        return out

    def to_json(self) -> str:
        # Key order is column order: never sort the keys. History tables are large: compact.
        return json.dumps(self.to_dict(), indent=None if self.history else 2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            label=str(data["label"]),
            numeric=list(data["numeric"]),
            categorical={k: list(v) for k, v in data["categorical"].items()},
            history={
                name: GroupHistory.from_dict(table)
                for name, table in data.get("history", {}).items()
            },
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))


def _fit_history(op: HistoryFeature, rows: pd.DataFrame, label: str) -> GroupHistory:
    groups, days = [rows[g] for g in op.group], rows[EVENT_DATE]
    if isinstance(op, TargetRateFeature):
        return GroupHistory.fit(
            groups, days, rows[label], group=op.group, days=op.days, prior_rows=op.prior_rows
        )
    return GroupHistory.fit(groups, days, None, group=op.group, days=op.days, statistic="count")

"""The model's view of the features: column order, kinds, categories, saved as JSON.

The same spec turns a features frame into a model matrix at training, evaluation and
serving time, so a category unseen in training becomes missing, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .features import FeatureKind


@dataclass(frozen=True)
class FeatureSpec:
    label: str
    numeric: list[str]
    categorical: dict[str, list[str]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def fit(cls, frame: pd.DataFrame, kinds: Mapping[str, FeatureKind], label: str) -> FeatureSpec:
        """Learn the category levels from training rows; numeric columns keep their order."""
        numeric = [name for name, kind in kinds.items() if kind == "numeric"]
        categorical = {
            name: sorted(str(v) for v in frame[name].dropna().unique())
            for name, kind in kinds.items()
            if kind == "categorical"
        }
        return cls(label=label, numeric=numeric, categorical=categorical)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model input: numeric as float64, categorical with the training levels only."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"features missing from the input: {', '.join(missing)}")
        out: dict[str, Any] = {}
        for name in self.numeric:
            out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        for name, levels in self.categorical.items():
            values = frame[name].astype("string").astype(object).where(frame[name].notna(), None)
            out[name] = pd.Categorical(values, categories=levels)
        return pd.DataFrame(out, index=frame.index)

    def labels(self, frame: pd.DataFrame) -> pd.Series:
        """The label as 0/1 integers; raises if any row has no label."""
        label = frame[self.label]
        if label.isna().any():
            raise ValueError(f"{int(label.isna().sum())} rows have no label {self.label!r}")
        return label.astype(bool).astype("int64")

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "numeric": self.numeric, "categorical": self.categorical}

    def to_json(self) -> str:
        # Key order is column order: never sort the keys.
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            label=str(data["label"]),
            numeric=list(data["numeric"]),
            categorical={k: list(v) for k, v in data["categorical"].items()},
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))

"""The MLflow peer, as an MLflow 3 "model from code": this file is the model, nothing pickled.

`mlflow.pyfunc.save_model(path, python_model=<this file>, artifacts={"bundle": folder})`
stores it next to a copy of the serving bundle; `mlflow models serve` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from ml_assets.lib.request_model import record_model
from ml_assets.lib.scoring import Scorer


class ChampionModel(PythonModel):
    """Validates each row with the service's request model, then scores it with Scorer."""

    def load_context(self, context: PythonModelContext) -> None:
        self.scorer = Scorer.from_bundle(Path(context.artifacts["bundle"]))
        self.record = record_model(self.scorer.config)

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None
    ) -> pd.DataFrame:
        # MLflow hands over a DataFrame: missing values come back as NaN, the request had null.
        rows = model_input.astype(object).where(model_input.notna(), None)
        rows_as_dicts = cast("list[dict[str, Any]]", rows.to_dict("records"))
        records: list[Mapping[str, Any]] = [vars(self.record(**r)) for r in rows_as_dicts]
        scored = self.scorer.score(self.scorer.events_frame(records))
        return scored.astype({"label": "bool", "model_version": "str"})


mlflow.models.set_model(ChampionModel())

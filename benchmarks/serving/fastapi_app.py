"""The bare peer: the same bundle, Scorer and request model behind plain FastAPI + uvicorn.

`MLAP_BENCH_BUNDLE` is the serving bundle folder. Run with
`uvicorn benchmarks.serving.fastapi_app:app --workers 1`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI
from pydantic import BaseModel, Field

from ml_assets.lib.request_model import record_model
from ml_assets.lib.scoring import Scorer

scorer = Scorer.from_bundle(Path(os.environ["MLAP_BENCH_BUNDLE"]))
Record = record_model(scorer.config)


class PredictRequest(BaseModel):
    records: Annotated[
        list[Record],  # type: ignore[valid-type]
        Field(min_length=1, max_length=scorer.config.serving.max_batch_size),
    ]


class Prediction(BaseModel):
    probability: float
    label: bool
    model_version: str


app = FastAPI(title="bare FastAPI peer")


@app.get("/readyz")
def readyz() -> dict[str, bool]:
    return {"ready": True}


@app.post("/predict")
def predict(request: PredictRequest) -> list[Prediction]:
    records: list[BaseModel] = request.records
    scored = scorer.score(scorer.events_frame([vars(r) for r in records]))
    return [
        Prediction(probability=p, label=label, model_version=scorer.model_version)
        for p, label in zip(scored["probability"].tolist(), scored["label"].tolist(), strict=True)
    ]

"""The limits without HTTP: the same Scorer called in this process, one call at a time.

Three depths: the servers' whole work (validate records, `events_frame`, `score`),
`score(events)` on ready-made events frames (features, joins, model), and
`booster.inplace_predict` on ready-made model matrices (the model alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.serving.load import Load, Measurement
from ml_assets.lib.request_model import record_model
from ml_assets.lib.scoring import Scorer

WHOLE = "in-process: records -> score"
SCORE_EVENTS = "in-process: score(events)"
MODEL_ONLY = "in-process: inplace_predict"


@dataclass(frozen=True)
class Stage:
    name: str
    call: Callable[[Any], object]
    prepare: Callable[[list[dict[str, Any]]], Any]


def stages(scorer: Scorer) -> list[Stage]:
    record = record_model(scorer.config)

    def events(records: list[dict[str, Any]]) -> pd.DataFrame:
        return scorer.events_frame([vars(record(**r)) for r in records])

    def matrix(records: list[dict[str, Any]]) -> pd.DataFrame:
        return scorer.loaded.spec.matrix(scorer.features(events(records)))

    booster = scorer.loaded.model.get_booster()
    return [
        Stage(WHOLE, lambda rs: scorer.score(events(rs)), list),
        Stage(SCORE_EVENTS, scorer.score, events),
        Stage(MODEL_ONLY, booster.inplace_predict, matrix),
    ]


def breakdown(scorer: Scorer, records: list[dict[str, Any]]) -> dict[str, float]:
    """CPU ms per single-record call of each step of a request's scoring, in order."""
    record = record_model(scorer.config)
    booster = scorer.loaded.model.get_booster()
    dumped: list[list[Mapping[str, Any]]] = [[vars(record(**r))] for r in records]
    events = [scorer.events_frame(d) for d in dumped]
    features = [scorer.features(e) for e in events]
    matrices = [scorer.loaded.spec.matrix(f) for f in features]
    steps: list[tuple[str, Callable[[Any], object], list[Any]]] = [
        ("validate (pydantic)", lambda r: vars(record(**r)), records),
        ("events_frame (typing)", scorer.events_frame, dumped),
        ("features (joins + feature ops)", scorer.features, events),
        ("model matrix (FeatureSpec.matrix)", scorer.loaded.spec.matrix, features),
        ("model (inplace_predict)", booster.inplace_predict, matrices),
        ("score_features (matrix + model + result)", scorer.score_features, features),
    ]
    return {name: _cpu_ms(call, inputs) for name, call, inputs in steps}


def _cpu_ms(call: Callable[[Any], object], inputs: list[Any]) -> float:
    for item in inputs[:10]:
        call(item)
    started = time.process_time()
    for item in inputs:
        call(item)
    return (time.process_time() - started) * 1000 / len(inputs)


def time_calls(stage: Stage, inputs: list[list[dict[str, Any]]], load: Load) -> Measurement:
    """Call `stage` on rotated prepared inputs for `load.duration_s` (or the call cap)."""
    prepared = [stage.prepare(batch) for batch in inputs]
    for item in prepared[:20]:
        stage.call(item)
    latencies: list[float] = []
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + load.duration_s
    index = 0
    while time.perf_counter() < deadline and index < load.max_requests:
        item = prepared[index % len(prepared)]
        start = time.perf_counter()
        stage.call(item)
        latencies.append(time.perf_counter() - start)
        index += 1
    elapsed = time.perf_counter() - started
    # The scorer's CPU goes in the server column: here the server is this process.
    cpu = time.process_time() - cpu
    return Measurement(load, np.asarray(latencies), elapsed, 0, float("nan"), cpu)

"""The limits without HTTP: the same Scorer called in this process, one call at a time.

Three depths: the servers' whole work (validate records, `events_frame`, `score`),
`score(events)` on ready-made events frames (features, joins, model), and
`booster.inplace_predict` on ready-made model matrices (the model alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.serving.load import Load, Measurement
from ml_assets.lib.request_model import record_model
from ml_assets.lib.scoring import Scorer


@dataclass(frozen=True)
class Stage:
    name: str
    call: Callable[[Any], object]
    prepare: Callable[[list[dict[str, Any]]], Any]


def stages(scorer: Scorer) -> list[Stage]:
    record = record_model(scorer.config)

    def events(records: list[dict[str, Any]]) -> pd.DataFrame:
        return scorer.events_frame([record(**r).model_dump() for r in records])

    def matrix(records: list[dict[str, Any]]) -> pd.DataFrame:
        return scorer.loaded.spec.matrix(scorer.features(events(records)))

    booster = scorer.loaded.model.get_booster()
    return [
        Stage("in-process: records -> score", lambda rs: scorer.score(events(rs)), list),
        Stage("in-process: score(events)", scorer.score, events),
        Stage("in-process: inplace_predict", booster.inplace_predict, matrix),
    ]


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

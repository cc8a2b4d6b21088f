"""What the servers are asked: real 2013 flights as a caller would send them.

Records are rows of the `validated_flights` partitions, serving columns only, serialised
to JSON the way a client would (ISO timestamps, null for missing), in partition order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.scoring import Scorer, serving_columns

BATCH_SIZE = 1000


def load_records(validated_flights: Path, scorer: Scorer, count: int) -> list[dict[str, Any]]:
    """The last `count` flights of the partitions (or all of them, if fewer)."""
    columns = list(serving_columns(scorer.config))
    frames: list[pd.DataFrame] = []
    total = 0
    for path in sorted(validated_flights.glob("*.parquet"), reverse=True):
        frame = pd.read_parquet(path, columns=columns)
        frames.insert(0, frame)
        total += len(frame)
        if total >= count:
            break
    if not frames:
        raise FileNotFoundError(f"no validated_flights partitions in {validated_flights}")
    rows = pd.concat(frames, ignore_index=True).tail(count)
    records: list[dict[str, Any]] = json.loads(rows.to_json(orient="records", date_format="iso"))
    return records


def batches(records: list[dict[str, Any]], size: int = BATCH_SIZE) -> list[list[dict[str, Any]]]:
    """Consecutive, disjoint batches of exactly `size` records."""
    return [records[i : i + size] for i in range(0, len(records) - size + 1, size)]


def expected_probabilities(scorer: Scorer, records: list[dict[str, Any]]) -> np.ndarray:
    """What a correct server answers: the in-process scorer on the validated records."""
    from ml_assets.lib.request_model import record_model

    record = record_model(scorer.config)
    events = scorer.events_frame([vars(record(**r)) for r in records])
    return scorer.score(events)["probability"].to_numpy()

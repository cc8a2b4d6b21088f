"""Served A/B traffic of real validated days, written the way the service logs it: the
records split by the documented hash of the entity key, each arm's probabilities drawn
from the real labels (the challenger's clearly sharper), so `ab_test` sees a verdict."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.experiment import challenger_rows, salt_of
from ml_assets.lib.features import compute_target
from ml_assets.lib.inference_log import ScoredBatch
from ml_assets.lib.scoring import serving_columns

ENTITY_KEY = ["time_hour", "carrier", "flight", "origin", "sched_dep_time"]


def ab_batches(
    config: PipelineConfig,
    validated: pd.DataFrame,
    seed: int,
    champion: str = "1",
    challenger: str = "2",
) -> list[ScoredBatch]:
    """One request per arm of the day's events, as the A/B service logs them."""
    columns = list(serving_columns(config))
    rows = validated[columns].to_dict("records")
    actual = compute_target(validated, config.target).to_numpy(dtype="float64")
    chosen = np.array(challenger_rows(rows, ENTITY_KEY, 0.5, salt_of(config.name, challenger)))
    noise = np.random.default_rng(seed).normal(size=len(rows))
    sharp = 1 / (1 + np.exp(-(2.5 * (actual - 0.5) + noise)))
    dull = 1 / (1 + np.exp(-(0.3 * (actual - 0.5) + noise)))
    batches = []
    for arm, version, mask, p in (
        ("champion", champion, ~chosen, dull),
        ("challenger", challenger, chosen, sharp),
    ):
        where = np.flatnonzero(mask)
        batches.append(
            ScoredBatch(
                request_id=f"{arm}-{seed}",
                served_at=datetime.now(UTC),
                route="/predict",
                latency_ms=3.0,
                model_version=version,
                model_tag=f"{config.name}:v{version}-test",
                arm=arm,
                rows=len(where),
                records=[rows[i] for i in where],
                columns=None,
                outputs=[{"probability": float(p[i]), "label": bool(p[i] > 0.5)} for i in where],
                positions=list(where),
            )
        )
    return batches

"""Do history features earn their place? A quick probe beside the full benchmark.

On each split of 2013 (the pipeline's windows; training reaching back `--train-days`), one
fixed XGBoost (400 trees, depth 6, seed 42) is fitted on train + validation with the
pipeline's features, then again with each set of `target_rate` / `event_count` features,
fitted exactly
as the platform fits them (the feature spec, on train + validation; the test window reads
the latest history). Test ROC AUC of each, with a paired bootstrap CI of the difference.

    .venv/bin/python -m benchmarks.quality.history_probe --state /tmp/qstate

`--state` holds a backfill of 2013 (`mlap backfill flight_delays` with MLAP_STATE_DIR).
"""

from __future__ import annotations

import argparse
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.quality.__main__ import HISTORY_FEATURES, PIPELINE, SPLITS

# Scheduled departures a day over the week before, by origin and by origin and hour (the
# scheduled hour, a calendar part of `time_hour`: added to the frames as `dep_hour`).
COUNT_FEATURES: dict[str, dict[str, Any]] = {
    "origin_flights_7d": {"op": "event_count", "group": ["origin"], "days": 7},
    "origin_hour_flights_7d": {"op": "event_count", "group": ["origin", "dep_hour"], "days": 7},
    "route_hour_flights_7d": {
        "op": "event_count",
        "group": ["origin", "dest", "dep_hour"],
        "days": 7,
    },
}
# Sets of history features probed one against the base, then all together.
PROBES: dict[str, list[str]] = {
    "origin 1d": ["origin_late_rate_1d"],
    "origin 7d": ["origin_late_rate_7d"],
    "carrier 28d": ["carrier_late_rate_28d"],
    "route 28d": ["route_late_rate_28d"],
    "all four": list(HISTORY_FEATURES),
    "flights by origin 7d": ["origin_flights_7d"],
    "flights by origin, hour 7d": ["origin_hour_flights_7d"],
    "flights by route, hour 7d": ["route_hour_flights_7d"],
    "all four + origin, hour counts": [*HISTORY_FEATURES, "origin_hour_flights_7d"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, help="state folder with 2013 backfilled")
    parser.add_argument("--as-of", nargs="+", default=list(SPLITS))
    parser.add_argument("--train-days", type=int, default=120)
    args = parser.parse_args()
    os.environ["MLAP_STATE_DIR"] = args.state
    for as_of in args.as_of:
        print(probe(Path(args.state), date.fromisoformat(as_of), args.train_days), flush=True)


def probe(state: Path, as_of: date, train_days: int) -> str:
    from pydantic import TypeAdapter

    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.lib.config.models import HistoryFeature
    from ml_assets.lib.feature_spec import FeatureSpec
    from ml_assets.lib.features import feature_kinds

    config = load_pipeline_config(
        Path(__file__).parents[2] / "configs/pipelines/flight_delays.yaml"
    )
    training = config.training
    assert training is not None
    label = config.target.name
    windows = (training.validation_days, training.test_days)
    frames = _windows(state, as_of, train_days, windows, label)
    fit_rows = pd.concat([frames["train"], frames["validation"]], ignore_index=True)
    test = frames["test"]
    kinds = feature_kinds(config)
    results: dict[str, np.ndarray] = {}
    probed = HISTORY_FEATURES | COUNT_FEATURES
    history_op: TypeAdapter[Any] = TypeAdapter(HistoryFeature)
    for name, added in {"base": [], **PROBES}.items():
        ops = {n: history_op.validate_python(probed[n]) for n in added}
        spec = FeatureSpec.fit(
            fit_rows, kinds | dict.fromkeys(added, "numeric"), label, ops, fit_rows
        )
        results[name] = _fixed_xgboost(spec, fit_rows, test, label, training.seed)
    truth = test[label].astype(int).to_numpy()
    return _table(as_of, truth, results, {w: len(f) for w, f in frames.items()})


def _windows(
    state: Path, as_of: date, train_days: int, windows: tuple[int, int], label: str
) -> dict[str, pd.DataFrame]:
    """The labelled feature rows of each window, read from the lake's daily partitions."""
    validation_days, test_days = windows
    root = state / "lake" / PIPELINE / "features"
    bounds = {
        "test": (as_of - timedelta(days=test_days - 1), as_of),
        "validation": (
            as_of - timedelta(days=test_days + validation_days - 1),
            as_of - timedelta(days=test_days),
        ),
    }
    start = bounds["validation"][0] - timedelta(days=train_days)
    bounds["train"] = (start, bounds["validation"][0] - timedelta(days=1))
    frames = {}
    for window, (first, last) in bounds.items():
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        frame = pd.concat([pd.read_parquet(root / f"{d.isoformat()}.parquet") for d in days])
        frame["dep_hour"] = frame["sched_dep_minutes"] // 60
        frames[window] = frame[frame[label].notna()].reset_index(drop=True)
    return frames


def _fixed_xgboost(
    spec: Any, fit_rows: pd.DataFrame, test: pd.DataFrame, label: str, seed: int
) -> np.ndarray:
    from xgboost import XGBClassifier

    model = XGBClassifier(
        n_estimators=400,
        max_depth=6,
        learning_rate=0.05,
        enable_categorical=True,
        tree_method="hist",
        random_state=seed,
        n_jobs=2,
    )
    model.fit(spec.matrix(fit_rows), fit_rows[label].astype(int))
    return np.asarray(model.predict_proba(spec.matrix(test))[:, 1])


def _table(as_of: date, truth: np.ndarray, scores: dict[str, np.ndarray], rows: dict) -> str:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(truth), len(truth)) for _ in range(500)]
    base = scores["base"]
    lines = [
        f"\n### Test window ending {as_of} (rows: "
        + ", ".join(f"{w} {n:,}" for w, n in rows.items())
        + ")\n",
        "| features | test ROC AUC | minus base | 95% CI (paired bootstrap) |",
        "| --- | --- | --- | --- |",
    ]
    for name, score in scores.items():
        auc = roc_auc_score(truth, score)
        if name == "base":
            lines.append(f"| base (the YAML's) | {auc:.4f} | | |")
            continue
        diffs = [
            roc_auc_score(truth[i], score[i]) - roc_auc_score(truth[i], base[i]) for i in draws
        ]
        low, high = np.percentile(diffs, [2.5, 97.5])
        lines.append(
            f"| + {name} | {auc:.4f} | {auc - roc_auc_score(truth, base):+.4f} "
            f"| [{low:+.4f}, {high:+.4f}] |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

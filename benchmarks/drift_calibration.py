"""Calibrated drift thresholds against the hand-tuned ones, on a whole half-year of a pipeline.

For every day after the training window, the share of features drifted against the
reference sample of the training window, judged three ways side by side in one run:

- hand-tuned: the thresholds written in the pipeline's YAML;
- calibrated on whole days: every unset threshold calibrated as the reference profile now
  does it, drawing days the size live days have;
- calibrated on sampled days: the same, drawing from the training window as sampled down
  to `max_train_rows` (what the reference profile did before; thinner, noisier days);
- calibrated thresholds and shares: whole-day thresholds, and the warning / error shares
  calibrated too (the YAML's `share_warn` / `share_error` unset).

The first three use the YAML's error share. Prints, per month (and per half of the last
month), the share of days judged an error and the mean drifted share. Features only: no
model is trained, so the prediction column is left out of all four. Run:

    python -m benchmarks.drift_calibration flight_delays --start 2013-01-01 \
        --train-end 2013-04-30 --end 2013-06-30

It backfills the days into a temporary state folder first (a few minutes for half a year).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ml_assets.lib.config import PipelineConfig
    from ml_assets.lib.config.monitoring import DriftConfig
    from ml_assets.lib.drift_calibration import Calibration
    from ml_assets.lib.drift_stats import ColumnKind

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("--start", required=True, help="First day of the training window.")
    parser.add_argument("--train-end", required=True, help="Last day of the training window.")
    parser.add_argument("--end", required=True, help="Last day judged.")
    parser.add_argument("--state", help="State folder to reuse (default: a temporary one).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlap-drift-bench-") as scratch:
        state = Path(args.state or scratch)
        os.environ["MLAP_STATE_DIR"] = str(state)
        os.environ.pop("DAGSTER_HOME", None)
        from ml_assets import environment

        environment.quiet_telemetry()
        environment.dagster_home()  # the state folder's, with the local dagster.yaml
        run(args.pipeline, args.start, args.train_end, args.end)


def run(pipeline: str, start: str, train_end: str, end: str) -> None:
    from dagster import DagsterInstance

    from ml_assets import environment
    from ml_assets.definitions import build_definitions
    from ml_assets.keys import features_key
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.runs.backfill import run_backfill

    config = load_pipeline_config(environment.pipelines_dir() / f"{pipeline}.yaml")
    defs = build_definitions()
    lake = (defs.resources or {})["lake"]
    path = features_key(pipeline).path
    begun = time.perf_counter()
    with DagsterInstance.get() as instance:
        done = instance.get_materialized_partitions(features_key(pipeline))
        if not set(days_between(start, end)) <= done:
            summary = run_backfill(defs, pipeline, start, end, instance, log_level="WARNING")
            if not summary.success:
                sys.exit(f"backfill {start}..{end} failed: {summary.failed_checks}")
    print(f"features of {start}..{end} ready in {time.perf_counter() - begun:.0f} s", flush=True)
    days = {day: lake.read(path, day) for day in days_between(start, end)}
    judges = build_judges(config, days, train_end)
    rows = [
        {"day": day, **{name: judge(frame) for name, judge in judges.items()}}
        for day, frame in days.items()
    ]
    report(pd.DataFrame(rows), list(judges))


def build_judges(
    config: PipelineConfig, days: dict[str, pd.DataFrame], train_end: str
) -> dict[str, Callable[[pd.DataFrame], float]]:
    """Each way of judging a day: a function from the day's rows to its drifted share."""
    from ml_assets.lib.config.monitoring import StatTest
    from ml_assets.lib.drift import compare, configured_test
    from ml_assets.lib.drift_calibration import calibrate, calibration_pool, typical_day_rows
    from ml_assets.lib.features import EVENT_DATE, feature_kinds

    assert config.monitoring is not None and config.training is not None
    policy = config.monitoring.drift
    seed = config.training.seed
    label = config.target.name
    stored = pd.concat([f for d, f in days.items() if d <= train_end], ignore_index=True)
    window = stored[stored[label].notna()].reset_index(drop=True)  # as training_set keeps it
    cap = config.training.max_train_rows
    sampled = window.sample(cap, random_state=seed) if cap and cap < len(window) else window
    reference = sampled.sample(
        min(config.monitoring.reference_rows, len(sampled)), random_state=seed
    )
    kinds: dict[str, ColumnKind] = {
        name: "numerical" if kind == "numeric" else "categorical"
        for name, kind in feature_kinds(config).items()
        if name not in policy.ignore_columns
    }
    unset = policy.model_copy(
        update={
            "numerical": StatTest(method=policy.numerical.method),
            "categorical": StatTest(method=policy.categorical.method),
            "columns": {c: StatTest(method=t.method) for c, t in policy.columns.items()},
        }
    )

    def calibrated(pool: pd.DataFrame) -> Calibration:
        tests = {c: (k, configured_test(c, k, unset).method) for c, k in kinds.items()}
        return calibrate(
            reference,
            pool,
            EVENT_DATE,
            tests,
            policy.calibration,
            day_rows=typical_day_rows(pool[EVENT_DATE]),
            min_rows=policy.min_rows,
            seed=seed,
            share_columns=list(kinds),
        )

    whole = calibrated(stored)
    thin = calibrated(calibration_pool(sampled, reference.index))
    for name, calibration in (("whole", whole), ("sampled", thin)):
        print(f"calibrated on {name} days: typical day {calibration.day_rows} rows")
    print(f"calibrated shares: warning {whole.share_warn:.1%}, error {whole.share_error:.1%}")
    unset_shares = unset.model_copy(update={"share_warn": None, "share_error": None})

    def judge(
        drift_policy: DriftConfig, calibration: Calibration | None = None
    ) -> Callable[[pd.DataFrame], tuple[float, bool]]:
        def share(frame: pd.DataFrame) -> tuple[float, bool]:
            result = compare(
                frame,
                reference,
                kinds,
                drift_policy,
                with_html=False,
                calibration=calibration,
                prediction=("__no_prediction__", "numerical"),
            )
            if not result.columns:
                return float("nan"), False
            return result.share, result.verdict == "error"

        return share

    return {
        "hand-tuned": judge(policy),
        "calibrated, whole days": judge(unset, whole),
        "calibrated, sampled days": judge(unset, thin),
        "calibrated thresholds and shares": judge(unset_shares, whole),
    }


def report(judged: pd.DataFrame, names: list[str]) -> None:
    shares = judged[["day"]].copy()
    for name in names:
        shares[name] = judged[name].map(lambda pair: pair[0])
        shares[f"{name} error"] = judged[name].map(lambda pair: pair[1])
    day = pd.to_datetime(shares["day"])
    last = day.max()
    period = day.dt.strftime("%b")
    in_last = (day.dt.month == last.month) & (day.dt.year == last.year)
    half = np.where(day.dt.day <= 12, f"{last:%b} 1-12", f"{last:%b} 13-{last.day}")
    shares = shares.assign(period=np.where(in_last, half, period))
    order = list(dict.fromkeys(shares["period"]))
    print("\nshare of days judged an error (mean drifted share)\n")
    print("| days | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for name in order:
        part = shares[shares["period"] == name]
        cells = [f"{part[f'{n} error'].mean():.0%} ({part[n].mean():.0%})" for n in names]
        print(f"| {name} ({len(part)}) | " + " | ".join(cells) + " |")


def days_between(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    main()

"""Batch scoring: the `batch_predictions` asset against the model alone on the same rows.

Four ways over the same feature rows of a range of days, in one process, alternating:
the asset materialised for the range in one run (`mlap predict`'s path: Dagster reads the
range's feature partitions, scores, writes one file per day and records the events) on
an instance with the project's local dagster.yaml and again on one with Dagster's stock
SQLite event log, the asset's own compute (`Scorer.score_features` on the concatenated
rows), and XGBoost's `inplace_predict` on the ready model matrix. Run on a state that
holds a champion bento and feature partitions (e.g. the serving benchmark's, or a scale
benchmark's folder with `--pipeline flights_x1` and MLAP_PIPELINES_DIR set to its
pipelines folder):

    python -m benchmarks.pipeline.batch_scoring --state /tmp/sbench --start 2013-05-01 \\
        --end 2013-07-31
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.pipeline.instances import instance_home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True)
    parser.add_argument("--pipeline", default="flight_delays")
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    state = Path(args.state).resolve()
    os.environ["MLAP_STATE_DIR"] = str(state)
    os.environ["BENTOML_HOME"] = str(state / "bentoml")
    os.environ.pop("DAGSTER_HOME", None)
    from ml_assets import environment

    environment.quiet_telemetry()
    environment.dagster_home()
    print(measure(args.pipeline, args.start, args.end, args.repeats))


def measure(pipeline: str, start: str, end: str, repeats: int) -> str:
    from dagster import DagsterInstance

    from ml_assets.definitions import build_definitions
    from ml_assets.runs.predict import run_predictions

    defs = build_definitions()
    resources = defs.resources or {}
    lake, store = resources["lake"], resources["bento_store"]
    days = [d.date().isoformat() for d in pd.date_range(start, end)]
    features = pd.concat(
        [lake.read([pipeline, "features"], day) for day in days], ignore_index=True
    )
    scorer = _scorer(resources, store, pipeline)
    matrix = scorer.loaded.spec.codes_array(features)
    booster = scorer.loaded.model.get_booster()
    samples: dict[str, list[float]] = {}
    homes = {
        kind: instance_home(Path(tempfile.mkdtemp(prefix=f"dagster-{kind}-")), kind)
        for kind in ("local", "stock")
    }
    with (
        DagsterInstance.from_config(str(homes["local"])) as local,
        DagsterInstance.from_config(str(homes["stock"])) as stock,
    ):

        def asset_run(instance: DagsterInstance) -> Callable[[], None]:
            def run() -> None:
                summary = run_predictions(defs, pipeline, start, end, instance)
                if not summary.success:
                    raise SystemExit(f"batch_predictions failed: {summary.error}")

            return run

        ways: dict[str, Callable[[], object]] = {
            "batch_predictions asset, one run for the range": asset_run(local),
            "the same on Dagster's stock SQLite event log": asset_run(stock),
            "the asset's compute (Scorer.score_features)": lambda: scorer.score_features(features),
            "XGBoost inplace_predict on the model matrix": lambda: booster.inplace_predict(matrix),
        }
        for way in ways.values():
            way()  # warm: imports, caches, the run's first-time storage set-up
        for _ in range(repeats):
            for name, way in ways.items():
                begun = time.perf_counter()
                way()
                samples.setdefault(name, []).append(time.perf_counter() - begun)
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
    return _table(samples, len(features), len(days))


def _scorer(resources: dict, store: object, pipeline: str) -> Any:
    """The champion's scorer, as batch_predictions loads it (through the bento store)."""
    from ml_assets.keys import model_key

    ref = resources["refs_io_manager"].read(model_key(pipeline, "champion_bento").path)
    return store.scorer(ref.model_tag)  # type: ignore[attr-defined]


def _table(samples: dict[str, list[float]], rows: int, days: int) -> str:
    model = statistics.median(samples["XGBoost inplace_predict on the model matrix"])
    lines = [
        f"{rows:,} feature rows of {days} days; median of the repeats, seconds and rows/s;",
        "ratio = rows/s over inplace_predict's (the aim: at least 0.8x).",
        "",
        "| way | median s | min-max s | rows/s | ratio to inplace_predict |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, values in samples.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.3f} | {min(values):.3f}-{max(values):.3f} "
            f"| {rows / median:,.0f} | {model / median:.3f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

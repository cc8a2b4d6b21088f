"""Ingest through the graph against a plain script: a backfill of 2013, raw to features.

Three ways over the same days, alternating, in one process:
- the graph: `mlap backfill`'s path, the pipeline's ingest job as one run over the range
  (raw, validated and quarantined rows of every source, features, the validation checks,
  one Parquet file per asset and day, data versions, events) on an instance with the
  project's local dagster.yaml;
- the same on an instance with Dagster's stock SQLite event log;
- a plain script with the same libraries and the project's own functions, no Dagster:
  read the sources, validate them, build the features, write one Parquet file per day
  of each table (what a team would write by hand).

    python -m benchmarks.pipeline.backfill --start 2013-01-01 --end 2013-12-31
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.pipeline.instances import instance_home

PIPELINE = "flight_delays"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2013-01-01")
    parser.add_argument("--end", default="2013-12-31")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlap-backfill-bench-") as scratch:
        state = Path(scratch)
        os.environ["MLAP_STATE_DIR"] = str(state)
        os.environ["BENTOML_HOME"] = str(state / "bentoml")
        os.environ.pop("DAGSTER_HOME", None)
        from ml_assets import environment

        environment.quiet_telemetry()
        print(measure(state, args.start, args.end, args.repeats), flush=True)


def measure(state: Path, start: str, end: str, repeats: int) -> str:
    from dagster import DagsterInstance

    from ml_assets.definitions import build_definitions
    from ml_assets.runs.backfill import run_backfill

    defs = build_definitions()
    config = _config()
    sources = (defs.resources or {})["sources"]
    days = [d.date().isoformat() for d in pd.date_range(start, end)]
    homes = {
        kind: instance_home(state / f"dagster_home_{kind}", kind) for kind in ("local", "stock")
    }
    samples: dict[str, list[float]] = {}
    rows: dict[str, int] = {}
    with (
        DagsterInstance.from_config(str(homes["local"])) as local,
        DagsterInstance.from_config(str(homes["stock"])) as stock,
    ):

        def graph(instance: DagsterInstance) -> Callable[[list[str]], None]:
            def run(days: list[str]) -> None:
                summary = run_backfill(defs, PIPELINE, days[0], days[-1], instance, "WARNING")
                if not summary.success:
                    raise SystemExit(f"backfill failed: {summary.render()}")
                rows["graph"] = summary.rows.get("features", 0)

            return run

        def script(days: list[str]) -> None:
            rows["script"] = plain_script(config, sources, days, state / "script_lake")

        ways: dict[str, Callable[[list[str]], None]] = {
            "graph: the ingest job, one run (local dagster.yaml)": graph(local),
            "graph on Dagster's stock SQLite event log": graph(stock),
            "plain script, same functions, no Dagster": script,
        }
        for way in ways.values():
            way(days[:7])  # warm: imports, caches, each instance's first-time set-up
        for _ in range(repeats):
            for name, way in ways.items():
                begun = time.perf_counter()
                way(days)
                samples.setdefault(name, []).append(time.perf_counter() - begun)
                print(f"{name}: {samples[name][-1]:.1f} s", flush=True)
    if rows["graph"] != rows["script"]:
        raise SystemExit(f"the ways disagree on the feature rows: {rows}")
    return _table(samples, rows["script"], len(days))


def plain_script(config: Any, sources: Any, days: list[str], lake: Path) -> int:
    """The ingest as a script: every source read, validated, the features built, and each
    table written as one Parquet file per day (reference tables whole)."""
    from ml_assets.lib.features import EVENT_DATE, build_features
    from ml_assets.lib.validation import validate_frame

    valid: dict[str, pd.DataFrame] = {}
    for name, source in config.sources.items():
        is_event = name == config.event_source_name
        raw = (
            sources.read_events(source, config.daily, days)
            if is_event
            else sources.read_reference(source)
        )
        carried = [EVENT_DATE] if is_event else []
        outcome = validate_frame(
            raw, source.columns, source.primary_key, name=name, carry_columns=carried
        )
        valid[name] = outcome.valid
        tables = {f"raw_{name}": raw, f"validated_{name}": outcome.valid}
        tables[f"quarantined_{name}"] = outcome.quarantined
        for table, frame in tables.items():
            _write(frame, lake / table, days if is_event else None)
    events = valid.pop(config.event_source_name)
    features = build_features(events, valid, config)
    _write(features, lake / "features", days)
    return len(features)


def _write(frame: pd.DataFrame, folder: Path, days: list[str] | None) -> None:
    """One file per day, or one file for a table that is not partitioned (`days` None)."""
    from ml_assets.lib.features import EVENT_DATE

    folder.mkdir(parents=True, exist_ok=True)
    if days is None:
        frame.to_parquet(folder / "all.parquet", index=False)
        return
    groups = dict(tuple(frame.groupby(frame[EVENT_DATE].astype("string"), sort=False)))
    for day in days:
        part = groups.get(day, frame.iloc[:0])
        part.reset_index(drop=True).to_parquet(folder / f"{day}.parquet", index=False)


def _config() -> Any:
    from ml_assets import environment
    from ml_assets.lib.config import load_pipeline_config

    return load_pipeline_config(environment.pipelines_dir() / f"{PIPELINE}.yaml")


def _table(samples: dict[str, list[float]], rows: int, days: int) -> str:
    script = statistics.median(samples["plain script, same functions, no Dagster"])
    lines = [
        f"{rows:,} feature rows of {days} days; median of the repeats in seconds;",
        "ratio = time over the plain script's (the aim: at most 1.3x).",
        "",
        "| way | median s | min-max s | ratio to the script |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, values in samples.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.1f} | {min(values):.1f}-{max(values):.1f} "
            f"| {median / script:.2f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""How cost grows with data: flight_delays on 1x, 3x and 10x its 2013 data, per stage.

The data are 2013 replicated in shifted calendar years (scale_data.py says why): the
flights as one CSV file per day, read through a landing_zone connector, and the weather as
one CSV file, both named by a generated pipeline YAML (`extends:` flight_delays): the
product runs them as it runs any pipeline. Stages, each in its own
process, in order, on one state folder per scale:

- ingest: the ingest job as one run over every day, or in runs of `--days-per-run` days
  (raw -> validated + quarantine -> features, `mlap backfill`'s path);
- training: the training job (`mlap train`'s path), the same config at every scale (its
  windows are days, so the rows it trains on do not grow with the history), with a small
  trial budget (`--trials`);
- scoring: batch_predictions for every day in one run, or in runs of `--days-per-run`
  days (`mlap predict`'s path);
- drift: December of the last year through `mlap monitor`'s path (batch predictions of
  the month, then drift_report and live_performance with their checks, a run a day).

Measured per stage: wall time of the child process (parent side, so it includes the
child's imports and loading the definitions, ~5-10 s), the stage's own seconds (inside
the child), and peak RSS from the kernel (`ru_maxrss` of the child from `os.wait4`; the
stage runs in process, so this is its peak). A child over `--rss-cap-gib` or
`--time-box-s` is killed and recorded as such. Results accumulate in
`<root>/results.jsonl`, so scales and stages can be run separately; the table is built
from all of them.

    python -m benchmarks.pipeline.scale --scales 1 3 [--stages ingest training scoring drift]
    python -m benchmarks.pipeline.scale --report
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STAGES = ("ingest", "training", "scoring", "drift")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/mlap-scale", help="data and state live here")
    parser.add_argument("--scales", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES)
    parser.add_argument("--trials", type=int, default=2, help="Optuna trials per candidate")
    parser.add_argument("--rss-cap-gib", type=float, default=7.0)
    parser.add_argument("--time-box-s", type=float, default=1800.0)
    parser.add_argument(
        "--days-per-run",
        type=int,
        help="ingest and score in runs of at most this many days (mlap backfill and mlap "
        "predict --days-per-run); the state then lives in its own folder",
    )
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--copies", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.root).resolve()
    if args.stage:
        print(json.dumps(run_stage(args.stage, root, args.copies, args.days_per_run)), flush=True)
        return
    if not args.report:
        for copies in args.scales:
            measure_scale(root, copies, args)
    from benchmarks.pipeline.scale_report import table

    print(table(read_results(root)))


def measure_scale(root: Path, copies: int, args: argparse.Namespace) -> None:
    from benchmarks.pipeline.scale_data import write_pipeline

    base = PROJECT_ROOT / "configs" / "pipelines" / "flight_delays.yaml"
    begun = time.perf_counter()
    name, rows = write_pipeline(root / f"x{copies}", copies, base, args.trials)
    print(f"x{copies}: {rows:,} flights ready in {time.perf_counter() - begun:.0f} s", flush=True)
    for stage in args.stages:
        record = run_child(root, copies, stage, args, args.days_per_run)
        record.update(scale=copies, flights=rows, pipeline=name, trials=args.trials)
        record.update(days_per_run=args.days_per_run)
        with (root / "results.jsonl").open("a") as out:
            out.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
        if record["outcome"] != "ok":
            break  # later stages need this one's output


def stage_env(root: Path, copies: int, days_per_run: int | None) -> dict[str, str]:
    folder = root / f"x{copies}"
    state = folder / ("state" if days_per_run is None else f"state_runs_of_{days_per_run}")
    env = dict(os.environ)
    env.pop("DAGSTER_HOME", None)
    env.update(
        MLAP_STATE_DIR=str(state),
        MLAP_PIPELINES_DIR=str(folder / "pipelines"),
        BENTOML_HOME=str(state / "bentoml"),
        PYTHONPATH=str(PROJECT_ROOT),
    )
    return env


def run_child(
    root: Path, copies: int, stage: str, args: argparse.Namespace, days_per_run: int | None
) -> dict:
    """One stage in a child process: its wall time, peak RSS and what it reported."""
    import psutil

    cap_gib, box_s = args.rss_cap_gib, args.time_box_s
    command = [sys.executable, "-m", "benchmarks.pipeline.scale", "--root", str(root)]
    command += ["--stage", stage, "--copies", str(copies)]
    if days_per_run is not None:
        command += ["--days-per-run", str(days_per_run)]
    log = root / f"x{copies}" / f"{stage}{'' if days_per_run is None else days_per_run}.log"
    load_before = os.getloadavg()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    begun = time.perf_counter()
    with log.open("w") as err:
        child = subprocess.Popen(
            command,
            env=stage_env(root, copies, days_per_run),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        watched = psutil.Process(child.pid)
        outcome, polled = "ok", 0
        # os.wait4 (not Popen.poll, which would reap the child and lose its rusage).
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        while pid == 0:
            rss = watched.memory_info().rss
            polled = max(polled, rss)
            if rss > cap_gib * 2**30:
                outcome = f"killed over {cap_gib} GiB RSS"
            elif time.perf_counter() - begun > box_s:
                outcome = f"killed after the {box_s:.0f} s time box"
            if outcome != "ok":
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.5)
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - begun
        out = child.stdout.read() if child.stdout else ""
    reported: dict[str, Any] = {}
    for line in out.splitlines()[::-1]:
        if line.startswith("{"):
            reported = json.loads(line)
            break
    if outcome == "ok" and (child.returncode != 0 or not reported.get("success")):
        outcome = f"failed (exit {child.returncode}; see {log})"
    return {
        "stage": stage,
        "outcome": outcome,
        "started_utc": started,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 0),  # Linux: KiB
        "polled_rss_mib": round(polled / 2**20, 0),
        "load_before": round(load_before[0], 2),
        "load_after": round(os.getloadavg()[0], 2),
        **reported,
    }


def read_results(root: Path) -> list[dict]:
    path = root / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_stage(stage: str, root: Path, copies: int, days_per_run: int | None) -> dict[str, Any]:
    """Child side: one stage through the product's own run helpers, in process."""
    from ml_assets import environment

    environment.quiet_telemetry()
    environment.dagster_home()
    from dagster import DagsterInstance

    from ml_assets.definitions import build_definitions
    from ml_assets.runs.backfill import run_backfill
    from ml_assets.runs.monitor import run_monitoring
    from ml_assets.runs.predict import run_predictions
    from ml_assets.runs.training import run_training

    name = f"flights_x{copies}"
    first, last = "2013-01-01", f"{2013 + copies - 1}-12-31"
    defs = build_definitions()
    with DagsterInstance.get() as instance:
        begun = time.perf_counter()
        if stage == "ingest":
            backfill = run_backfill(defs, name, first, last, instance, "WARNING", days_per_run)
            result: dict[str, Any] = {"success": backfill.success, "rows": backfill.rows}
            if not backfill.success:
                result["error"] = backfill.render()[-2000:]
        elif stage == "training":
            trained = run_training(defs, name, instance, "WARNING")
            training_set = trained.metadata.get("training_set", {})
            result = {
                "success": trained.success,
                "rows": {"training_set": training_set.get("dagster/row_count")},
                "error": trained.error,
            }
        elif stage == "scoring":
            scored = run_predictions(defs, name, first, last, instance, days_per_run)
            rows = sum(day.rows for day in scored.days)
            result = {"success": scored.success, "rows": {"batch_predictions": rows}}
            result["error"] = scored.error
        else:
            month = f"{2013 + copies - 1}-12-01"
            monitored = run_monitoring(defs, name, month, last, instance)
            rows = sum(day.rows for day in monitored.predictions.days)
            ok = monitored.predictions.success and all(d.success for d in monitored.days)
            result = {
                "success": ok and len(monitored.days) == 31,
                "rows": {"month": rows, "days_monitored": len(monitored.days)},
                "error": monitored.predictions.error,
            }
        result["stage_s"] = round(time.perf_counter() - begun, 1)
    return result


if __name__ == "__main__":
    main()

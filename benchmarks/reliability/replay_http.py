"""A stretch of 2013 replayed as live traffic against a real `bentoml serve`, then judged
from the inference log and compared with the champion's batch predictions (issue 15).

    .venv/bin/python -m benchmarks.reliability.replay_http [--start 2013-08-01 --end 2013-08-14]

1. The benchmark champion (`benchmarks/serving/state.py`, trained on 2013-05-01..07-31)
   in `--state`; the stretch's days ingested (`mlap backfill`) and judged the batch way
   (`mlap monitor`: batch predictions, `drift_report`, `live_performance`).
2. The champion's bento served with the inference log on (`MLAP_INFERENCE_LOG_URL`, the
   state's lake); every validated flight of the stretch sent once, in the order of its
   scheduled departure, as a mix of single records and /predict batches (a request may
   hold flights of two days, as live traffic does).
3. After a clean shutdown, each day of the log run through `<pipeline>__served_traffic`
   (`inference_log`, `served_drift`, `served_performance`), in process.
4. Per day: rows logged against records sent, served probabilities against the batch
   predictions of the same flights (joined on the entity key), drift per column (score,
   drifted) and the day's verdict, and the live metric, served against batch.

The figures are printed as a Markdown table (copied into RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks.serving.peers import bentoml_peer, serving
from benchmarks.serving.state import MLAP, PIPELINE, Champion, platform_env, prepare
from ml_assets.environment import PROJECT_ROOT

logger = logging.getLogger("replay_http")
KEY = ["time_hour", "carrier", "flight", "origin", "sched_dep_time"]
FIELDS = [
    *["year", "month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight"],
    *["tailnum", "origin", "dest", "distance", "hour", "minute", "time_hour"],
]
# Request sizes, in turn: mostly single records, some batches.
SIZES = [1] * 10 + [20, 100]


@dataclass
class DayFigures:
    day: str
    sent: int
    logged: int
    max_probability_diff: float
    columns: int
    columns_agreeing: int
    max_score_diff: float
    verdict_batch: str
    verdict_served: str
    live_batch: float | None
    live_served: float | None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path("/tmp/mlap-bench-replay"))
    parser.add_argument("--start", default="2013-08-01")
    parser.add_argument("--end", default="2013-08-14")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    began = time.perf_counter()
    champion = prepare(args.state)
    days = [str(d.date()) for d in pd.date_range(args.start, args.end)]
    timings: dict[str, float] = {}

    clock = time.perf_counter()
    _mlap(champion.state, "backfill", "--start", args.start, "--end", args.end)
    _mlap(champion.state, "monitor", "--start", args.start, "--end", args.end)
    timings["batch side (backfill + monitor)"] = time.perf_counter() - clock

    lake = champion.state / "lake"
    for day in days:  # a second run replays into an empty log
        shutil.rmtree(lake / PIPELINE / "inference_log_files" / day, ignore_errors=True)
    records = _stretch(lake, days)
    clock = time.perf_counter()
    requests, answered = _replay(champion, records)
    timings["HTTP replay (server up to stopped)"] = time.perf_counter() - clock

    clock = time.perf_counter()
    _judge_served(champion.state, days)
    timings["served side (served_traffic runs)"] = time.perf_counter() - clock

    figures = [_compare(lake, day, records) for day in days]
    _check_answers(lake, days, records, answered)
    print(_markdown(champion, args, figures, requests, len(records), timings, began))


def _mlap(state: Path, verb: str, *arguments: str) -> None:
    log = state / f"replay-{verb}.log"
    with log.open("w") as out:
        done = subprocess.run(
            [MLAP, verb, PIPELINE, *arguments],
            env=platform_env(state),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
    if done.returncode != 0:
        raise RuntimeError(f"`mlap {verb}` failed (log {log}):\n{log.read_text()[-3000:]}")


def _stretch(lake: Path, days: list[str]) -> pd.DataFrame:
    """Every validated flight of the days with its request body, in scheduled order."""
    frames = []
    for day in days:
        rows = pd.read_parquet(lake / PIPELINE / "validated_flights" / f"{day}.parquet")
        frames.append(rows.assign(_day=day))
    rows = pd.concat(frames, ignore_index=True)
    rows = rows.sort_values(["time_hour", "sched_dep_time"], kind="stable").reset_index(drop=True)
    rows["_body"] = json.loads(rows[FIELDS].to_json(orient="records", date_format="iso"))
    return rows


def _replay(champion: Champion, records: pd.DataFrame) -> tuple[int, np.ndarray]:
    """Send every record once; the number of requests and the probabilities answered."""
    env = {**platform_env(champion.state), "MLAP_INFERENCE_LOG_URL": str(champion.state / "lake")}
    peer = bentoml_peer(champion, env)
    bodies = list(records["_body"])
    answered: list[float] = []
    requests = 0
    with serving(peer, champion.state / "replay-serve.log") as server, httpx.Client() as client:
        position, turn = 0, 0
        while position < len(bodies):
            chunk = bodies[position : position + SIZES[turn % len(SIZES)]]
            response = client.post(f"{server.url}/predict", json={"records": chunk}, timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"request {requests}: {response.status_code} {response.text}")
            answered += [p["probability"] for p in response.json()]
            position, turn, requests = position + len(chunk), turn + 1, requests + 1
    return requests, np.asarray(answered)


def _judge_served(state: Path, days: list[str]) -> None:
    from dagster import DagsterInstance, Definitions, in_process_executor

    from ml_assets.factory import build_pipeline_definitions
    from ml_assets.keys import served_traffic_job_name
    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.runs.results import QUIET
    from resources import build_resources

    config = load_pipeline_config(state / "pipelines" / f"{PIPELINE}.yaml")
    defs = Definitions.merge(
        build_pipeline_definitions(config),
        Definitions(
            resources=build_resources(
                state,
                alerts_config=PROJECT_ROOT / "configs" / "alerts.yaml",
                bentoml_home=state / "bentoml",
            ),
            executor=in_process_executor,
        ),
    )
    job = defs.resolve_job_def(served_traffic_job_name(PIPELINE))
    with DagsterInstance.ephemeral() as instance:
        for day in days:
            result = job.execute_in_process(instance=instance, partition_key=day, run_config=QUIET)
            if not result.success:
                raise RuntimeError(f"{day}: the served_traffic run failed")


def _read(lake: Path, asset: str, day: str) -> pd.DataFrame:
    return pd.read_parquet(lake / PIPELINE / asset / f"{day}.parquet")


def _compare(lake: Path, day: str, records: pd.DataFrame) -> DayFigures:
    logged = _read(lake, "inference_log", day)
    validated = _read(lake, "validated_flights", day)
    predicted = _read(lake, "batch_predictions", day)
    batch = validated[KEY].assign(batch_probability=predicted["probability"].to_numpy())
    keys = logged[[f"input_{c}" for c in KEY]].set_axis(KEY, axis=1)
    for column in KEY:
        keys[column] = keys[column].astype(batch[column].dtype)
    joined = keys.assign(served=logged["output_probability"].to_numpy()).merge(
        batch, on=KEY, how="left", validate="one_to_one"
    )
    if joined["batch_probability"].isna().any():
        raise RuntimeError(f"{day}: logged records that the batch predictions do not hold")
    diff = float(np.abs(joined["served"] - joined["batch_probability"]).max())

    drift = _read(lake, "drift_report", day)
    served_drift = _read(lake, "served_drift", day)
    pairs = drift.merge(served_drift, on="column", suffixes=("_b", "_s"), validate="1:1")
    scores = pairs[["score_b", "score_s"]].astype("float64")
    same = (
        (pairs["drifted_b"] == pairs["drifted_s"])
        & ((scores["score_b"] - scores["score_s"]).abs().fillna(0) <= 1e-9)
        & (scores["score_b"].isna() == scores["score_s"].isna())
    )
    live = _read(lake, "live_performance", day).iloc[0]
    served_live = _read(lake, "served_performance", day).iloc[0]
    return DayFigures(
        day=day,
        sent=int((records["_day"] == day).sum()),
        logged=len(logged),
        max_probability_diff=diff,
        columns=len(drift),
        columns_agreeing=int(same.sum()),
        max_score_diff=float((scores["score_b"] - scores["score_s"]).abs().max()),
        verdict_batch=_verdict(drift),
        verdict_served=_verdict(served_drift),
        live_batch=_number(live["value"]),
        live_served=_number(served_live["value"]),
    )


def _verdict(table: pd.DataFrame) -> str:
    features = table[table["kind"] != "prediction"]
    return f"{int(features['drifted'].sum())}/{len(features)}"


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _check_answers(
    lake: Path, days: list[str], records: pd.DataFrame, answered: np.ndarray
) -> None:
    """The log holds what the client was answered, record for record."""
    logged = pd.concat([_read(lake, "inference_log", d) for d in days], ignore_index=True)
    keys = logged[[f"input_{c}" for c in KEY]].set_axis(KEY, axis=1)
    sent = records[KEY].assign(answered=answered)
    for column in KEY:
        keys[column] = keys[column].astype(sent[column].dtype)
    joined = keys.assign(logged=logged["output_probability"].to_numpy()).merge(
        sent, on=KEY, how="left", validate="one_to_one"
    )
    if not np.allclose(joined["logged"], joined["answered"], rtol=0, atol=1e-9):
        raise RuntimeError("the log's probabilities differ from the answers")


def _markdown(
    champion: Champion,
    args: argparse.Namespace,
    figures: list[DayFigures],
    requests: int,
    sent: int,
    timings: dict[str, float],
    began: float,
) -> str:
    logged = sum(f.logged for f in figures)
    lines = [
        f"Replay {args.start} .. {args.end} against `bentoml serve {champion.bento_tag}`: "
        f"{sent} records in {requests} requests, {logged} rows logged.",
        "",
        "| day | sent | logged | max abs prob. diff | drift columns agreeing | max score diff "
        "| drifted features batch / served | live ROC AUC batch / served |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        live = f"{f.live_batch} / {f.live_served}"
        lines.append(
            f"| {f.day} | {f.sent} | {f.logged} | {f.max_probability_diff:.1e} "
            f"| {f.columns_agreeing}/{f.columns} | {f.max_score_diff:.1e} "
            f"| {f.verdict_batch} / {f.verdict_served} | {live} |"
        )
    lines += ["", *(f"- {name}: {seconds:.1f} s" for name, seconds in timings.items())]
    lines.append(f"- whole script: {time.perf_counter() - began:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

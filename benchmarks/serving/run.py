"""Run the serving benchmark: in-process limits and every HTTP peer, in rounds, idle and
beside a background load the benchmark starts; one report section per load.

    .venv/bin/python -m benchmarks.serving.run --duration 10 --rounds 3 --background-load 0,2

Every server is up at once (one worker each, on 127.0.0.1, idle while another is measured)
and they are measured in turns, their order rotated each round, so that a change of the
machine's load spreads over all of them; the report gives the median and the spread of the
rounds and the load average of each level. All servers are stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.serving import inprocess, workload
from benchmarks.serving.load import Load, Measurement, measure
from benchmarks.serving.peers import (
    Peer,
    Server,
    columnar_body,
    peers,
    serving,
    unwrap_columns,
)
from benchmarks.serving.report import Results, render
from benchmarks.serving.state import Champion, prepare
from ml_assets.environment import PROJECT_ROOT, TELEMETRY_OFF
from ml_assets.lib.scoring import Scorer

logger = logging.getLogger("benchmarks.serving")

HERE = Path(__file__).resolve().parent
MAX_REQUESTS = 200_000
TOLERANCE = 1e-6
VERIFY_BATCH, VERIFY_SINGLES = 200, 20
Body = Callable[[list[dict[str, Any]]], bytes]
Unwrap = Callable[[Any], list[dict[str, Any]]]


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.update(TELEMETRY_OFF)
    load_before = _wait_for_quiet(args.max_load, args.max_wait) if args.max_load else None
    champion = prepare(args.state)
    scorer = Scorer.from_bundle(champion.bundle)
    records = workload.load_records(champion.validated_flights, scorer, args.records)
    logs = champion.state / "logs"
    logs.mkdir(exist_ok=True)
    chosen = [p for p in peers(champion) if not args.peers or p.name in args.peers]
    sections = []
    with contextlib.ExitStack() as stack:
        servers = {}
        for peer in chosen:
            logger.info("starting %s", peer.name)
            server = stack.enter_context(serving(peer, logs / f"{peer.name.lower()}.log"))
            url = server.url + peer.predict_path
            _verify(peer.name, url, peer.body, peer.unwrap, scorer, records)
            if peer.columnar_path is not None:
                url = server.url + peer.columnar_path
                _verify(peer.columnar_name, url, columnar_body, unwrap_columns, scorer, records)
            servers[peer.name] = server
        for busy in args.background_load:
            with background_load(busy):
                context = _context(args, champion, scorer, len(records), load_before)
                context["background load"] = (
                    f"{busy} busy process(es) at nice 19, started by the benchmark"
                    if busy
                    else "none started by the benchmark"
                )
                results = _rounds(args, Results(context), scorer, records, chosen, servers)
                results.context["load average after (1/5/15 min)"] = _load_text()
            title = "# Serving benchmark: " + ("idle" if not busy else f"{busy} busy processes")
            sections.append(render(results, title))
            load_before = None
    args.out.write_text("\n".join(sections))
    logger.info("wrote %s", args.out)
    print("\n".join(sections))


def _rounds(
    args: argparse.Namespace,
    results: Results,
    scorer: Scorer,
    records: list[dict[str, Any]],
    chosen: list[Peer],
    servers: dict[str, Server],
) -> Results:
    """Every in-process stage and every server at every level, once per round; each round
    visits the servers in another order, so a drift of the machine's load spreads over all
    of them instead of landing on whichever ran last."""
    singles = [[r] for r in records]
    batches = workload.batches(records)
    for number in range(args.rounds):
        logger.info("round %d of %d", number + 1, args.rounds)
        if number == 0:
            results.breakdown = inprocess.breakdown(scorer, records[:300])
        for stage in inprocess.stages(scorer):
            load = Load(1, args.duration, MAX_REQUESTS)
            one = _with_load(inprocess.time_calls(stage, singles[:500], load))
            Results.add(results.single, stage.name, 1, one)
            many = _with_load(inprocess.time_calls(stage, batches, load))
            Results.add(results.batch, stage.name, 1, many)
        shift = number % len(chosen)
        for peer in chosen[shift:] + chosen[:shift]:
            server = servers[peer.name]
            url = server.url + peer.predict_path
            bodies = [peer.body(r) for r in singles]
            for c, m in _levels(peer.name, url, server, bodies, args.concurrency, args).items():
                Results.add(results.single, peer.name, c, m)
            bodies = [peer.body(b) for b in batches]
            levels = args.batch_concurrency
            for c, m in _levels(peer.name, url, server, bodies, levels, args).items():
                Results.add(results.batch, peer.name, c, m)
            if peer.columnar_path is not None:
                # The same batches of the same records, sent as columns to the same server.
                url = server.url + peer.columnar_path
                bodies = [columnar_body(b) for b in batches]
                for c, m in _levels(peer.columnar_name, url, server, bodies, levels, args).items():
                    Results.add(results.batch, peer.columnar_name, c, m)
    return results


@contextlib.contextmanager
def background_load(processes: int) -> Iterator[None]:
    """`processes` Python busy loops at the lowest priority, as a busy host has them."""
    burners = [
        subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-c", "while True: pass"],
            start_new_session=True,
        )
        for _ in range(processes)
    ]
    try:
        if burners:
            time.sleep(5)  # let the load average feel them
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _levels(
    name: str,
    url: str,
    server: Server,
    bodies: list[bytes],
    levels: list[int],
    args: argparse.Namespace,
) -> dict[int, Measurement]:
    out = {}
    for concurrency in levels:
        load = Load(concurrency, args.duration, MAX_REQUESTS)
        m = measure(
            url,
            bodies,
            load,
            warmup_requests=_warmup(concurrency),
            server_cpu=server.cpu_seconds,
        )
        m = _with_load(m)
        logger.info(
            "%s c=%d: %.1f req/s, p50 %.2f ms, p99 %.2f ms, %d errors, load %.1f",
            name,
            concurrency,
            m.requests_per_s,
            m.percentile_ms(50),
            m.percentile_ms(99),
            m.errors,
            m.load_average,
        )
        out[concurrency] = m
    return out


def _with_load(measured: Measurement) -> Measurement:
    return replace(measured, load_average=os.getloadavg()[0])


def _warmup(concurrency: int) -> int:
    return max(50, 4 * concurrency)


def _verify(
    name: str, url: str, body: Body, unwrap: Unwrap, scorer: Scorer, records: list[dict[str, Any]]
) -> None:
    """Refuse to measure a server whose answers differ from the in-process scorer."""
    batch = records[:VERIFY_BATCH]
    got = _probabilities(name, url, body(batch), unwrap)
    singles = records[VERIFY_BATCH : VERIFY_BATCH + VERIFY_SINGLES]
    for record in singles:
        got += _probabilities(name, url, body([record]), unwrap)
    expected = workload.expected_probabilities(scorer, batch + singles)
    if len(got) != len(expected):
        raise AssertionError(f"{name}: {len(got)} predictions for {len(expected)} records")
    diff = float(np.max(np.abs(np.asarray(got) - expected)))
    if diff >= TOLERANCE:
        raise AssertionError(f"{name} disagrees with the in-process scorer: max |diff| {diff}")
    logger.info("%s agrees with the in-process scorer (max |diff| %.2g)", name, diff)


def _probabilities(name: str, url: str, content: bytes, unwrap: Unwrap) -> list[float]:
    response = httpx.post(
        url, content=content, headers={"content-type": "application/json"}, timeout=60
    )
    if response.status_code != 200:
        raise AssertionError(f"{name}: {response.status_code} {response.text[:500]}")
    return [float(p["probability"]) for p in unwrap(response.json())]


def _wait_for_quiet(max_load: float, max_wait: float) -> str:
    """Wait (bounded) for the 1-minute load average to drop below `max_load`."""
    deadline = time.monotonic() + max_wait
    while (load := os.getloadavg()[0]) >= max_load and time.monotonic() < deadline:
        logger.info("load average %.2f >= %.2f: waiting", load, max_load)
        time.sleep(15)
    if load >= max_load:
        logger.warning("load average still %.2f after %.0f s: running anyway", load, max_wait)
    return _load_text()


def _load_text() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _context(
    args: argparse.Namespace,
    champion: Champion,
    scorer: Scorer,
    records: int,
    load_before: str | None,
) -> dict[str, str]:
    booster = scorer.loaded.model.get_booster()
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("bentoml", "fastapi", "uvicorn", "mlflow", "xgboost", "pandas", "aiohttp")
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}",
        "load average before (1/5/15 min)": load_before or _load_text(),
        "model": f"{champion.bento_tag}: {scorer.loaded.manifest.flavor}, "
        f"{booster.num_boosted_rounds()} trees, {len(scorer.loaded.spec.columns)} features",
        "records": f"{records} real flights (last days of validated_flights), rotated",
        "per level": f"{args.duration:g} s, after max(50, 4 x concurrency) warm-up requests",
        "servers": "all up at once, one worker each, on 127.0.0.1, measured in turns",
        "rounds": f"{args.rounds}, the servers' order rotated each round",
        "client": "one asyncio aiohttp client in one process, pool = concurrency",
        "versions": versions,
        "state": str(champion.state),
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state",
        type=Path,
        default=PROJECT_ROOT / "var" / "benchmarks" / "serving",
        help="benchmark state folder; a champion is trained there if it has none",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per level")
    parser.add_argument(
        "--background-load",
        type=_ints,
        default=[0, 2],
        help="busy processes to run beside the servers, one whole measurement per value",
    )
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32])
    parser.add_argument("--batch-concurrency", type=_ints, default=[1, 2])
    parser.add_argument("--records", type=int, default=6000, help="distinct records rotated")
    parser.add_argument(
        "--peers", type=lambda s: s.split(","), default=None, help="subset, e.g. BentoML,FastAPI"
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=None,
        help="first wait for the 1-minute load average to drop below this",
    )
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds, for --max-load")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 120:
        parser.error("--duration must be between 1 and 120 seconds")
    return args


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


if __name__ == "__main__":
    main()

"""Overload and memory soak: is the memory a served champion keeps after an overload a
leak? (issue 19, item 8: 412 MB before, 517 MB after one overload, 641 MB by the end.)

    .venv/bin/python -m benchmarks.reliability.soak --rounds 5 --seconds 60

serves the benchmark champion (benchmarks/serving/state.py), measures what it sustains
closed-loop (`--concurrency` clients sending one-record /predict requests back to back),
then sends `--factor` (3) times that rate (or `--rate`, to compare two runs at one rate)
open-loop for `--seconds`, `--rounds` times, with `--rest` seconds of quiet after each
round. After each round and rest it records the
server's RSS (all its processes), the answers by status, the slowest /livez and /readyz
answers during the round (each probed every 0.5 s from a thread of its own), and how long
after the last request was sent a new one-record /predict is answered 200 (recovery).
A leak keeps growing round after round; a heap that grew once to serve the
peak and is then reused levels off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil

from benchmarks.reliability.fuzz import counted_answers
from benchmarks.reliability.served import served_server
from benchmarks.serving.workload import load_records


def rss_mb(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


async def capacity(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> float:
    """Requests per second answered 200 closed-loop by `concurrency` clients."""
    done = 0
    deadline = time.monotonic() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            body = bodies[done % len(bodies)]
            async with http.post(f"{url}/predict", data=body, headers=_JSON) as answer:
                await answer.read()
                done += answer.status == 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return done / seconds


async def overload(url: str, bodies: list[bytes], rate: float, seconds: float) -> dict[str, Any]:
    """`rate` requests per second open-loop (sent on schedule, whatever the answers) for
    `seconds`; what was sent, the answers by status, the probes' slowest answers meanwhile
    and the seconds from the last request sent to a new request answered 200.
    The client (aiohttp, bodies encoded beforehand) shares the machine with the server:
    `sent_per_s` says what it achieved."""
    statuses: Counter[str] = Counter()
    start = time.monotonic()

    async def one(http: aiohttp.ClientSession, body: bytes) -> None:
        try:
            async with http.post(f"{url}/predict", data=body, headers=_JSON) as answer:
                await answer.read()
                statuses[str(answer.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1

    def probe(path: str) -> None:
        """In a thread of its own: the load's event loop would delay the probe's own
        clock (a busy client is not a slow server)."""
        with httpx.Client(timeout=60) as client:
            while time.monotonic() - start < seconds:
                sent = time.monotonic()
                client.get(f"{url}{path}")
                probes[path].append(time.monotonic() - sent)
                time.sleep(0.5)

    def recover(stopped: float) -> None:
        """From the moment the load stops: until one new request is answered 200."""
        with httpx.Client(timeout=60) as client:
            while (
                client.post(f"{url}/predict", content=bodies[0], headers=_JSON).status_code != 200
            ):
                time.sleep(0.05)
        recovered.append(time.monotonic() - stopped)

    probes: dict[str, list[float]] = {"/livez": [], "/readyz": []}
    recovered: list[float] = []
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as http:
        probers = [threading.Thread(target=probe, args=(path,)) for path in probes]
        for prober in probers:
            prober.start()
        tasks = []
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            for i in range(sent, due):
                tasks.append(asyncio.create_task(one(http, bodies[i % len(bodies)])))
            sent = max(sent, due)
            await asyncio.sleep(0.002)
        recovery = threading.Thread(target=recover, args=(time.monotonic(),))
        recovery.start()
        await asyncio.gather(*tasks)
        for thread in [*probers, recovery]:
            thread.join()
    return {
        "sent_per_s": round(sent / seconds),
        "statuses": dict(statuses),
        "livez_max_s": round(max(probes["/livez"]), 3),
        "readyz_max_s": round(max(probes["/readyz"]), 3),
        "recovered_s": round(recovered[0], 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rest", type=float, default=15)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument(
        "--rate", type=float, help="overload at this many req/s instead of factor x capacity"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--state", type=Path, default=Path("/tmp/mlap-bench-reliability"))
    arguments = parser.parse_args(argv)
    with served_server(arguments.state) as (champion, server):
        # One-record requests, as the overload sent, of 500 different flights.
        records = load_records(champion.validated_flights, _scorer(champion), 500)
        bodies = [json.dumps({"records": [record]}).encode() for record in records]
        pid = server.process.pid
        print(f"RSS at start: {rss_mb(pid):.0f} MB")
        rate = asyncio.run(capacity(server.url, bodies, arguments.concurrency, 15))
        print(f"capacity: {rate:.0f} req/s closed-loop; RSS {rss_mb(pid):.0f} MB")
        print(
            "| round | target req/s | sent req/s | answers | /livez slowest (s) "
            "| /readyz slowest (s) | recovered after (s) | RSS after round (MB) "
            "| RSS after rest (MB) |\n|---|---|---|---|---|---|---|---|---|"
        )
        refused = 0
        for round_ in range(1, arguments.rounds + 1):
            target = arguments.rate or arguments.factor * rate
            result = asyncio.run(overload(server.url, bodies, target, arguments.seconds))
            refused += result["statuses"].get("429", 0)
            after = rss_mb(pid)
            time.sleep(arguments.rest)
            print(
                f"| {round_} | {target:.0f} | {result['sent_per_s']} | {result['statuses']} | "
                f"{result['livez_max_s']} | {result['readyz_max_s']} | "
                f"{result['recovered_s']} | {after:.0f} | {rss_mb(pid):.0f} |",
                flush=True,
            )
        counted = counted_answers(server.url, "429", "/predict")
        print(f"429 answers: {refused:,} received, {counted:,} counted by /metrics")


def _scorer(champion: Any) -> Any:
    from ml_assets.lib.scoring import Scorer

    return Scorer.from_bundle(champion.bundle)


_JSON = {"content-type": "application/json"}
_TIMEOUT = aiohttp.ClientTimeout(total=60)

if __name__ == "__main__":
    main()

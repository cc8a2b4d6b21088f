"""The load generator: one asyncio client, used the same way for every server.

`concurrency` tasks share one aiohttp session whose pool holds exactly `concurrency`
connections; each task sends a request, waits for the whole response, records its
latency and sends the next, until the duration or the request cap is reached. Bodies are
encoded before the clock starts and rotated, so consecutive requests differ and the
client spends its time on HTTP, not on JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import numpy as np

HEADERS = {"content-type": "application/json"}
TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass(frozen=True)
class Load:
    concurrency: int
    duration_s: float
    max_requests: int


@dataclass(frozen=True)
class Measurement:
    load: Load
    latencies_s: np.ndarray
    elapsed_s: float
    errors: int
    client_cpu_s: float
    server_cpu_s: float = float("nan")
    # The machine's 1-minute load average when the level ended (set by the runner).
    load_average: float = float("nan")

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed_s

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1000) if self.requests else float("nan")

    def cpu_ms_per_request(self, cpu_s: float) -> float:
        return cpu_s * 1000 / self.requests if self.requests else float("nan")


def measure(
    url: str,
    bodies: list[bytes],
    load: Load,
    warmup_requests: int,
    server_cpu: Callable[[], float] | None = None,
) -> Measurement:
    """Warm up, then run `load` against `url` and time every request.

    `server_cpu` reads the server's CPU seconds so far; it is read around the timed part.
    """
    return asyncio.run(_measure(url, bodies, load, warmup_requests, server_cpu))


async def _measure(
    url: str,
    bodies: list[bytes],
    load: Load,
    warmup_requests: int,
    server_cpu: Callable[[], float] | None,
) -> Measurement:
    connector = aiohttp.TCPConnector(limit=load.concurrency)
    async with aiohttp.ClientSession(
        connector=connector, headers=HEADERS, timeout=TIMEOUT
    ) as session:
        warmup = Load(load.concurrency, load.duration_s, warmup_requests)
        await _drive(session, url, bodies, warmup)
        server_before = server_cpu() if server_cpu else float("nan")
        cpu = time.process_time()
        started = time.perf_counter()
        latencies, errors = await _drive(session, url, bodies, load)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_used = (server_cpu() if server_cpu else float("nan")) - server_before
    return Measurement(load, np.asarray(latencies), elapsed, errors, cpu, server_used)


async def _drive(
    session: aiohttp.ClientSession, url: str, bodies: list[bytes], load: Load
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    sent = itertools.count()
    deadline = time.perf_counter() + load.duration_s

    async def one_client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            index = next(sent)
            if index >= load.max_requests:
                return
            start = time.perf_counter()
            try:
                async with session.post(url, data=bodies[index % len(bodies)]) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

    await asyncio.gather(*(one_client() for _ in range(load.concurrency)))
    return latencies, errors

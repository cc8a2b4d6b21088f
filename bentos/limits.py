"""Bounds on the work one request can ask for: body size, and costly calls' queue.

A request body larger than the biggest valid request is refused (413) before parsing.

BentoML reads a whole body and parses it before the request model can count records, so a
50 MB body cost a worker 1.3 GB of memory before `max_batch_size` refused it. The limit is
derived from the pipeline's serving config: `max_batch_size` records of at most
`max_record_bytes` each (JSON text, whitespace included), plus `ENVELOPE_BYTES` for the
body's own keys. The declared Content-Length is checked first; a body sent without one
(chunked) is counted as it arrives and refused as soon as it passes the limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TypeVar

import anyio.to_thread

from bentos.auth import Receive, Scope, Send
from ml_assets.lib.config.lifecycle import ServingConfig

logger = logging.getLogger("bentoml.service.champion")

ENVELOPE_BYTES = 4096
# Records per /explain when there is no example record to measure the cost with: SHAP's
# permutation explainer (scikit-learn models) took about 11 ms a record, so 100 cost ~1 s.
FALLBACK_EXPLAIN_LIMIT = 100
Result = TypeVar("Result")
PROBE_ROWS = 32


def max_body_bytes(max_batch_size: int, max_record_bytes: int) -> int:
    """The largest body a scoring route reads (see the module)."""
    return max_batch_size * max_record_bytes + ENVELOPE_BYTES


class BodyLimitMiddleware:
    """Answers 413 to a request to one of `paths` whose body exceeds `max_bytes`; a body
    within the limit is read here and handed on whole."""

    def __init__(self, app: Any, max_bytes: int, paths: Iterable[str], rule: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = frozenset(paths)
        self.rule = rule  # how the limit is derived, named in the refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, scope["path"], f"{int(declared)} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, scope["path"], f"more than {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send, path: str, size: str) -> None:
        error = (
            f"request body too large for {path}: {size}, the limit is {self.max_bytes} bytes"
            f" ({self.rule})"
        )
        body = json.dumps({"error": error}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read here once, then what the server gives."""
    given = False

    async def replayed() -> MutableMapping[str, Any]:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


class QueueFullError(Exception):
    """The queued work would not end within the gate's budget."""


class CostGate:
    """Runs costly calls one at a time and admits a call only while the work queued
    ahead of it, by its estimated cost per record, ends within `budget_seconds`: past
    that, `QueueFullError` at once (a 429 now rather than a 504 later). The estimate
    starts at `per_record` (None: unknown, then at most `fallback_queue` calls wait) and
    follows the measured time of each call."""

    def __init__(
        self, budget_seconds: float, per_record: float | None, fallback_queue: int
    ) -> None:
        self.budget_seconds = budget_seconds
        self.per_record = per_record
        self.fallback_queue = fallback_queue
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._queued_records = 0  # of the running call and the waiting ones

    async def run(self, records: int, call: Callable[[], Result]) -> Result:
        self._admit(records)
        self._waiting += 1
        self._queued_records += records
        try:
            try:
                await self._lock.acquire()
            finally:
                self._waiting -= 1
            try:
                started = time.perf_counter()
                result = await anyio.to_thread.run_sync(call)
                self._learn((time.perf_counter() - started) / records)
                return result
            finally:
                self._lock.release()
        finally:
            self._queued_records -= records

    def _admit(self, records: int) -> None:
        if not self._lock.locked():
            return
        if self.per_record is None:
            if self._waiting >= self.fallback_queue:
                raise QueueFullError(f"{self._waiting} requests already wait")
            return
        wait = (self._queued_records + records) * self.per_record
        if wait > self.budget_seconds:
            raise QueueFullError(
                f"the queued work would take about {wait:.1f} s, more than the "
                f"{self.budget_seconds:.0f} s this route may queue"
            )

    def _learn(self, per_record: float) -> None:
        """A moving estimate: one slow call raises it at once, fast ones lower it slowly."""
        known = self.per_record
        self.per_record = per_record if known is None else max(per_record, 0.8 * known)


def measured_batch_limit(
    call: Callable[[list[Any]], object], example: Any, budget_seconds: float, most: int
) -> tuple[int, float]:
    """How many records `call` handles within `budget_seconds`, at most `most`, from the
    time it takes for PROBE_ROWS copies of `example` (after one warm-up call); also the
    seconds per record measured. The per-record cost includes the call's fixed cost, so
    the limit errs low."""
    rows = [example] * PROBE_ROWS
    call(rows[:1])
    started = time.perf_counter()
    call(rows)
    per_record = max((time.perf_counter() - started) / PROBE_ROWS, 1e-9)
    return max(1, min(most, int(budget_seconds / per_record))), per_record


def explain_batch_limit(
    serving: ServingConfig, explain: Callable[[list[Any]], object], example: Any | None
) -> tuple[int, float | None]:
    """Records per /explain request: `serving.explain_max_batch_size` when set, else what
    `explain` handles within `serving.explain_budget_seconds` measured on `example` (no
    example, or it fails: FALLBACK_EXPLAIN_LIMIT); never above `serving.max_batch_size`. Also the
    seconds per record measured, None when not measured."""
    most = serving.max_batch_size
    if serving.explain_max_batch_size is not None:
        return min(serving.explain_max_batch_size, most), None
    if example is None:
        return min(FALLBACK_EXPLAIN_LIMIT, most), None
    try:
        limit, per_record = measured_batch_limit(
            explain, example, serving.explain_budget_seconds, most
        )
    except Exception as exc:  # the example does not explain: the service is failing
        logger.warning("/explain cost not measured (%s): limit %d", exc, FALLBACK_EXPLAIN_LIMIT)
        return min(FALLBACK_EXPLAIN_LIMIT, most), None
    logger.info("/explain: %.2f ms per record measured, limit %d", per_record * 1e3, limit)
    return limit, per_record

"""Requests that arrive while the model is busy are scored together, in one call.

A one-record scoring call is mostly fixed pandas overhead (about 5 ms; 1000 records take
about 15 ms), so under concurrent load the worker does far more work per call than per
record. Here a request never waits for others: when the scorer is free, it runs at once;
when it is busy, the requests that come in meanwhile queue and go together into the next
call. BentoML's adaptive batching does the same merging, but its dispatcher also holds
requests back to gather bigger batches and polls every millisecond while a batch runs: in
the serving benchmark it halved the rows/s of 1000-record requests.

Merging is only correct for row-wise scoring: every feature op and the model score each
row alone, which is what `ml_assets.lib.features` offers.

A request that is alone (`alone()`: no other scoring request in flight, nothing queued,
nothing scoring) is scored inline on the event loop instead of in a worker thread. The
hand-off to a thread and back costs two thread wake-ups, each a wait for the OS scheduler:
on a busy host that was several ms of a single-record request's ~10 ms (issue 18). Before
deciding, the merger yields to the event loop once, so that requests read in the same
loop turn register first (they would otherwise each find the scorer free and be scored
one by one, never merged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import anyio.to_thread

from bentos.auth import Receive, Scope, Send

Item = TypeVar("Item")
Result = TypeVar("Result")


class RequestMerger(Generic[Item, Result]):
    """Calls `score` on the concatenation of queued requests, one call at a time."""

    def __init__(
        self,
        score: Callable[[Sequence[Item]], list[Result]],
        max_items: int,
        alone: Callable[[], bool] | None = None,
    ) -> None:
        self._score = score
        self._max_items = max_items
        self._alone = alone  # None: always in a worker thread
        self._queue: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def __call__(self, items: Sequence[Item]) -> list[Result]:
        if self._alone is not None and self._idle():
            await asyncio.sleep(0)  # let requests read in this loop turn register
            if self._idle() and self._alone():
                return self._score(items)
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_queue())
        return await future

    def _idle(self) -> bool:
        return not self._queue and (self._drain is None or self._drain.done())

    async def _drain_queue(self) -> None:
        while self._queue:
            await self._run(self._take())

    def _take(self) -> list[tuple[Sequence[Item], asyncio.Future[list[Result]]]]:
        """The queued requests from the front, up to `max_items` items (at least one)."""
        taken = [self._queue.pop(0)]
        size = len(taken[0][0])
        while self._queue and size + len(self._queue[0][0]) <= self._max_items:
            size += len(self._queue[0][0])
            taken.append(self._queue.pop(0))
        return taken

    async def _run(self, jobs: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]]) -> None:
        # One request is scored as it came (e.g. a RecordBatch keeps its typed columns).
        merged = jobs[0][0] if len(jobs) == 1 else [item for items, _ in jobs for item in items]
        try:
            results = await anyio.to_thread.run_sync(self._score, merged)
        except Exception as exc:
            if len(jobs) > 1:  # score each request alone: one failure fails one request
                for job in jobs:
                    await self._run([job])
                return
            _settle(jobs[0][1], exc)
            return
        start = 0
        for items, future in jobs:
            _settle(future, results[start : start + len(items)])
            start += len(items)


class InFlight:
    """How many requests are in flight (counted by `InFlightMiddleware`); `alone()` says
    whether the request asking is the only one."""

    def __init__(self) -> None:
        self.count = 0

    def alone(self) -> bool:
        return self.count <= 1


class InFlightMiddleware:
    """Counts the requests to `paths` in `counter` while the app handles them."""

    def __init__(self, app: Any, paths: Iterable[str], counter: InFlight) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        self.counter.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter.count -= 1


def _settle(future: asyncio.Future[list[Result]], outcome: list[Result] | Exception) -> None:
    if future.done():  # the client went away
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

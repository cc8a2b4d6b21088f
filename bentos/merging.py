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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread

Item = TypeVar("Item")
Result = TypeVar("Result")


class RequestMerger(Generic[Item, Result]):
    """Calls `score` on the concatenation of queued requests, one call at a time."""

    def __init__(self, score: Callable[[Sequence[Item]], list[Result]], max_items: int) -> None:
        self._score = score
        self._max_items = max_items
        self._queue: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def __call__(self, items: Sequence[Item]) -> list[Result]:
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_queue())
        return await future

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


def _settle(future: asyncio.Future[list[Result]], outcome: list[Result] | Exception) -> None:
    if future.done():  # the client went away
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

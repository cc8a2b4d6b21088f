"""The service's inference log: answered requests go to a bounded in-memory buffer, and a
background thread writes it to the lake every `flush_seconds` (ml_assets.lib.inference_log
has the layout and the rows).

An answer never waits for the log: appending takes a lock for a few list operations, the
rows are built and written by the thread, every interval or as soon as half of
`max_buffered_records` is buffered. Past `max_buffered_records` the oldest requests are
dropped and counted. A write that fails (the lake unreachable) puts its requests back
at the front of the buffer, within the same cap, and is tried again at the next interval.
`close()` (the service's shutdown hook, and at interpreter exit) stops the thread and
writes what is left; a crash loses at most the last interval. Requests the service failed
to score (5xx) go through the same buffer and are written beside the log as errors files
(ml_assets.lib.inference_errors), where the rollback sensor reads the error rate.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.inference_errors import FailedRequest, error_frame, write_errors
from ml_assets.lib.inference_log import ScoredBatch, log_frame, write_log

logger = logging.getLogger("bentoml.service.inference_log")

Entry = ScoredBatch | FailedRequest
Write = Callable[[Sequence[Entry]], int]
# The lake's base URL the inference log is written under; unset or empty: no log.
INFERENCE_LOG_ENV = "MLAP_INFERENCE_LOG_URL"


@dataclass(frozen=True)
class Part:
    """The rows of one answered request that one model answered (an A/B request has one
    part per arm), as the log takes them."""

    arm: str
    model_version: str
    model_tag: str
    rows: int
    records: Sequence[Any] | None
    columns: Mapping[str, Any] | None
    outputs: Any
    positions: Sequence[int] | None = None


class InferenceLog:
    """A bounded buffer of scored requests, written by a background thread."""

    def __init__(
        self,
        write: Write,
        *,
        flush_seconds: float,
        max_records: int,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_written: Callable[[int], None] = lambda n: None,
        on_failed: Callable[[Exception], None] = lambda exc: None,
    ) -> None:
        self._write = write
        self._flush_seconds = flush_seconds
        self._max_records = max_records
        self._on_dropped, self._on_written, self._on_failed = on_dropped, on_written, on_failed
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one write at a time: the thread's or close()'s
        self._batches: deque[Entry] = deque()
        self._buffered = 0
        self.dropped = 0
        self.written = 0
        self._stop = threading.Event()
        self._due = threading.Event()  # half the cap is buffered: write before the interval
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        atexit.register(self.close)

    def start(self) -> InferenceLog:
        """Start the background writer (every `flush_seconds`, sooner at half the cap).
        Until then nothing is written but by `flush` and `close`."""
        self._thread.start()
        return self

    @property
    def buffered(self) -> int:
        return self._buffered

    def append(self, batch: Entry) -> None:
        """Buffer one answered request; drops the oldest past the cap (never blocks on I/O)."""
        with self._lock:
            self._batches.append(batch)
            self._buffered += batch.rows
            dropped = self._trim()
            due = self._buffered * 2 >= self._max_records
        if due:
            self._due.set()
        if dropped:
            self._on_dropped(dropped)

    def append_parts(
        self, request_id: str, route: str, started: float, parts: Sequence[Part]
    ) -> None:
        """Buffer an answered request, one batch per model that answered; never raises
        (the log never fails an answer)."""
        served_at = datetime.now(UTC)
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            for part in parts:
                self.append(
                    ScoredBatch(
                        request_id=request_id,
                        served_at=served_at,
                        route=route,
                        latency_ms=latency_ms,
                        model_version=part.model_version,
                        model_tag=part.model_tag,
                        arm=part.arm,
                        rows=part.rows,
                        records=part.records,
                        columns=part.columns,
                        outputs=part.outputs,
                        positions=part.positions,
                    )
                )
        except Exception:
            logger.exception("inference log: a request could not be buffered")

    def append_failure(
        self,
        request_id: str,
        route: str,
        started: float,
        part: Part,
        status: int,
        error_id: str,
    ) -> None:
        """Buffer a request the service failed to score (`part`: the model that was to
        answer and the request's records); never raises."""
        try:
            self.append(
                FailedRequest(
                    request_id=request_id,
                    served_at=datetime.now(UTC),
                    route=route,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    model_version=part.model_version,
                    model_tag=part.model_tag,
                    arm=part.arm,
                    rows=part.rows,
                    records=part.records,
                    columns=part.columns,
                    status=status,
                    error_id=error_id,
                )
            )
        except Exception:
            logger.exception("inference log: a failed request could not be buffered")

    def flush(self) -> int:
        """Write what is buffered now; the records written (0 when the write failed)."""
        with self._flushing:
            with self._lock:
                taken = list(self._batches)
                self._batches.clear()
                self._buffered = 0
            if not taken:
                return 0
            try:
                written = self._write(taken)
            except Exception as exc:
                logger.exception("inference log: writing %d request(s) failed", len(taken))
                self._on_failed(exc)
                self._put_back(taken)
                return 0
            self.written += written
            self._on_written(written)
            return written

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write what is left (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._due.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._due.wait(self._flush_seconds)
            self._due.clear()
            if not self._stop.is_set():
                self.flush()

    def _put_back(self, taken: list[Entry]) -> None:
        with self._lock:
            self._batches.extendleft(reversed(taken))
            self._buffered += sum(b.rows for b in taken)
            dropped = self._trim()
        if dropped:
            self._on_dropped(dropped)

    def _trim(self) -> int:
        """Drop the oldest requests while over the cap (caller holds the lock)."""
        dropped = 0
        while self._buffered > self._max_records and self._batches:
            oldest = self._batches.popleft()
            self._buffered -= oldest.rows
            dropped += oldest.rows
        self.dropped += dropped
        return dropped


def worker_log(
    config: PipelineConfig,
    metrics: Any,
    rows_of: Callable[[Sequence[ScoredBatch], PipelineConfig], Any] = log_frame,
    error_rows_of: Callable[[Sequence[ScoredBatch], PipelineConfig], Any] = log_frame,
) -> InferenceLog | None:
    """The inference log of this worker, when the server is given a lake to write it to
    (INFERENCE_LOG_ENV) and the pipeline's `serving.inference_log.enabled` is true;
    `rows_of` makes the log's rows of answered requests and `error_rows_of` the dated
    rows of failed ones (the text service's are `text_log_frame` and `text_request_rows`
    of `ml_assets.lib.text.served_log`)."""
    settings = config.serving.inference_log
    base_url = os.environ.get(INFERENCE_LOG_ENV, "").strip()
    if not base_url or not settings.enabled:
        return None

    def write(entries: Sequence[Entry]) -> int:
        # The errors first: a retry after a failed log write writes them again, and
        # their reader keeps each request once.
        failed = [e for e in entries if isinstance(e, FailedRequest)]
        if failed:
            write_errors(base_url, config.name, error_frame(failed, config, error_rows_of))
        scored = [e for e in entries if isinstance(e, ScoredBatch)]
        frame = rows_of(scored, config) if scored else None
        if frame is not None:
            write_log(base_url, config.name, frame)
        return (0 if frame is None else len(frame)) + sum(f.rows for f in failed)

    logger.info(
        "inference log: every %s s to %s (at most %d records buffered)",
        settings.flush_seconds,
        base_url,
        settings.max_buffered_records,
    )
    return InferenceLog(
        write,
        flush_seconds=settings.flush_seconds,
        max_records=settings.max_buffered_records,
        on_dropped=metrics.log_dropped.inc,
        on_written=metrics.log_written.inc,
        on_failed=lambda exc: metrics.log_failures.inc(),
    ).start()

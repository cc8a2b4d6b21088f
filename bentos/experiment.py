"""A live experiment in the service: the champion against a challenger, in shadow or A/B.

`shadow`: the champion answers every request; the request is then handed to one
background thread that scores it with the challenger and logs that output (arm
`shadow`, the champion's request id) to the inference log. The hand-off is a bounded
queue: when the challenger falls behind, requests are skipped and counted, never the
champion's answers held up. `ab`: the rows whose entity hashes into the configured share
(ml_assets.lib.experiment) are answered by the challenger, the others by the champion,
both in the same answer, each row saying which arm and model version answered it. When
the challenger fails on its rows (it raises), the champion answers them instead: the
caller gets a full answer whose rows say `champion`, the failure is logged and counted
(`mlap_ab_fallback_records_total` in /metrics), never a 500 for the challenger's fault.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import pandas as pd

from bentos.inference_log import Part
from bentos.responses import ResponseShape
from ml_assets.lib.experiment import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    SHADOW_ARM,
    challenger_columns,
    challenger_rows,
    interleave,
    positions,
)
from ml_assets.lib.inference_log import ScoredBatch
from ml_assets.lib.scoring import Scorer

logger = logging.getLogger("bentoml.service.experiment")


@dataclass(frozen=True)
class _ShadowJob:
    request_id: str
    route: str
    rows: int
    records: Sequence[Any] | None
    columns: Mapping[str, Any] | None


class LiveExperiment:
    """The challenger of a served experiment, its mode, and how requests reach it."""

    def __init__(
        self,
        *,
        mode: str,
        challenger: Scorer,
        challenger_tag: str,
        shape: ResponseShape,
        validate: Callable[[list[dict[str, Any]]], list[Any]],
        share: float,
        key: Sequence[str] | None,
        salt: str,
        shadow_queue: int,
        log: Callable[[ScoredBatch], None] | None,
        on_shadow: Callable[[str], None] = lambda outcome: None,
        on_fallback: Callable[[str, int], None] = lambda route, records: None,
    ) -> None:
        if mode not in ("shadow", "ab"):
            raise ValueError(f"an experiment runs in shadow or ab mode, not {mode!r}")
        if mode == "ab" and not key:
            raise ValueError("an A/B experiment needs an entity key to assign arms by")
        self.mode, self.share, self.key, self.salt = mode, share, list(key or ()), salt
        self.challenger, self.challenger_tag = challenger, challenger_tag
        self._shape, self._validate = shape, validate
        self._log, self._on_shadow, self._on_fallback = log, on_shadow, on_fallback
        self._jobs: queue.Queue[_ShadowJob | None] = queue.Queue(maxsize=shadow_queue)
        self._thread: threading.Thread | None = None
        if mode == "shadow":
            self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
            self._thread.start()

    @property
    def version(self) -> str:
        return self.challenger.model_version

    def describe(self) -> dict[str, Any]:
        """What /metadata says about the experiment."""
        described: dict[str, Any] = {
            "mode": self.mode,
            "challenger_version": self.version,
            "challenger_tag": self.challenger_tag,
        }
        if self.mode == "ab":
            described |= {"share": self.share, "entity_key": self.key}
        return described

    async def split_records(
        self,
        records: Sequence[Any],
        champion: Callable[[list[Any]], Awaitable[list[Any]]],
        champion_part: Callable[[Sequence[Any], Any, Sequence[int] | None], Part],
    ) -> tuple[list[Any], list[Part]]:
        """An A/B request of records: each arm scores its rows; the answers in order. The
        challenger scores first, so that the champion takes its rows when it fails."""
        rows = [vars(r) for r in records]
        chosen = challenger_rows(rows, self.key, self.share, self.salt)
        theirs = positions(chosen, True)
        given = [rows[i] for i in theirs]
        challenged: list[Any] = []
        if given:
            try:
                challenged = await anyio.to_thread.run_sync(self._score_rows, given)
            except Exception as exc:
                chosen = self._fall_back("/predict", exc, len(chosen), len(given))
                theirs, given = [], []
        ours = positions(chosen, False)
        mine = [records[i] for i in ours]
        answered = await champion(mine) if mine else []
        parts = [champion_part(mine, answered, ours)] if mine else []
        if given:
            parts.append(self._part(given, None, challenged, theirs))
        return interleave(chosen, answered, challenged), parts

    def split_columns(
        self, columns: Mapping[str, Any], count: int, champion: Scorer, champion_tag: str
    ) -> tuple[dict[str, Any], list[Part]]:
        """An A/B request of columns: the body of /predict_columns, and what each arm
        answered (as records, for the log). The challenger scores first, as for records."""
        chosen = challenger_columns(columns, count, self.key, self.share, self.salt)
        scored, parts = [], []
        for arm, scorer, tag in (
            (True, self.challenger, self.challenger_tag),
            (False, champion, champion_tag),
        ):
            where = positions(chosen, arm)
            if not where:
                continue
            subset = {
                name: None if values is None else [values[i] for i in where]
                for name, values in columns.items()
            }
            try:
                frame = scorer.score(scorer.events_from_columns(subset)).set_axis(where)
            except Exception as exc:
                if not arm:
                    raise  # the champion's failure: the service's error contract answers
                chosen = self._fall_back("/predict_columns", exc, count, len(where))
                continue
            scored.append(frame)
            rows = [
                {n: None if v is None else v[j] for n, v in subset.items()}
                for j in range(len(where))
            ]
            name = CHALLENGER_ARM if arm else CHAMPION_ARM
            outputs = self._shape.records(frame, scorer.model_version, name)
            parts.append(
                Part(name, scorer.model_version, tag, len(where), rows, None, outputs, where)
            )
        merged = pd.concat(scored).sort_index()
        arms = [CHALLENGER_ARM if c else CHAMPION_ARM for c in chosen]
        body = self._shape.column_values(
            merged, champion.model_version, arms, self.version if any(chosen) else None
        )
        return body, parts

    def _fall_back(self, route: str, exc: Exception, count: int, failed: int) -> list[bool]:
        """The challenger failed on its `failed` rows of a request of `count`: log and count
        it, and give every row of the request to the champion."""
        chosen = count * [False]
        logger.error(
            "A/B: challenger %s (%s) failed on %d record(s) of %s, answered by the champion:"
            " %s: %s",
            self.version,
            self.challenger_tag,
            failed,
            route,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        self._on_fallback(route, failed)
        return chosen

    def shadow(
        self,
        request_id: str,
        route: str,
        rows: int,
        records: Sequence[Any] | None,
        columns: Mapping[str, Any] | None,
    ) -> None:
        """Hand an answered request to the challenger (never waits: skipped when full)."""
        if self.mode != "shadow" or self._log is None:
            return
        try:
            self._jobs.put_nowait(_ShadowJob(request_id, route, rows, records, columns))
        except queue.Full:
            self._on_shadow("skipped")

    def close(self, timeout: float = 30.0) -> None:
        """Score what is queued, then stop the shadow thread (before the log's last write)."""
        if self._thread is None or not self._thread.is_alive():
            return
        self._jobs.put(None)
        self._thread.join(timeout)

    def _score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        scored = self.challenger.score(self.challenger.events_frame(rows))
        return self._validate(self._shape.records(scored, self.version, CHALLENGER_ARM))

    def _part(
        self, records: Sequence[Any] | None, columns: Any, outputs: Any, where: Sequence[int] | None
    ) -> Part:
        rows = len(records) if records is not None else len(where or ())
        return Part(
            CHALLENGER_ARM,
            self.version,
            self.challenger_tag,
            rows,
            records,
            columns,
            outputs,
            where,
        )

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._shadow_one(job)
                self._on_shadow("scored")
            except Exception:  # a failing challenger is the experiment's finding, not the service's
                logger.exception("shadow: the challenger failed on request %s", job.request_id)
                self._on_shadow("failed")

    def _shadow_one(self, job: _ShadowJob) -> None:
        started = time.perf_counter()
        scorer = self.challenger
        if job.records is not None:
            rows = [r if isinstance(r, Mapping) else vars(r) for r in job.records]
            outputs: Any = self._shape.records(
                scorer.score(scorer.events_frame(rows)), self.version, CHALLENGER_ARM
            )
        else:
            scored = scorer.score(scorer.events_from_columns(job.columns or {}))
            outputs = self._shape.column_values(scored, self.version)
        assert self._log is not None
        self._log(
            ScoredBatch(
                request_id=job.request_id,
                served_at=datetime.now(UTC),
                route=job.route,
                latency_ms=(time.perf_counter() - started) * 1000,
                model_version=self.version,
                model_tag=self.challenger_tag,
                arm=SHADOW_ARM,
                rows=job.rows,
                records=job.records,
                columns=job.columns,
                outputs=outputs,
            )
        )

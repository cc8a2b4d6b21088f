"""Where the service hands what it answered: the inference log (every scored batch, one
part per model that answered, and the requests it failed to score, which the rollback
sensor's error rate reads), a shadow challenger, and the failure counter of /metrics."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bentos.experiment import LiveExperiment
from bentos.inference_log import InferenceLog, Part
from bentos.observability import ScoringMetrics


class ServedLog:
    """The records of one worker's answered and failed scoring requests."""

    def __init__(
        self,
        inference_log: InferenceLog | None,
        experiment: LiveExperiment | None,
        metrics: ScoringMetrics,
        model_tag: str,
    ) -> None:
        self.inference_log = inference_log
        self.experiment = experiment
        self.metrics = metrics
        self.model_tag = model_tag

    def answered(
        self,
        route: str,
        started: float,
        parts: Sequence[Part],
        rows: int,
        records: Sequence[Any] | None,
        columns: Mapping[str, Any] | None,
    ) -> None:
        """An answered request, one batch per model that answered, also handed to a shadow
        challenger under the same request id (references only)."""
        request_id = uuid.uuid4().hex
        if self.experiment is not None:
            self.experiment.shadow(request_id, route, rows, records, columns)
        if self.inference_log is not None:
            self.inference_log.append_parts(request_id, route, started, parts)

    def failed(
        self,
        route: str,
        started: float,
        answer: Any,
        version: str,
        rows: int,
        records: Sequence[Any] | None,
        columns: Mapping[str, Any] | None,
    ) -> None:
        """A request the champion `version` failed to score (a 5xx, not a refused
        request): counted, and written where the rollback sensor reads the error rate."""
        status = int(getattr(answer, "status_code", 500))
        if status < 500:
            return
        self.metrics.failed.labels(route=route, model_version=version).inc()
        if self.inference_log is not None:
            error_id = str(json.loads(bytes(answer.body)).get("error_id", ""))
            part = Part("champion", version, self.model_tag, rows, records, columns, None)
            self.inference_log.append_failure(
                uuid.uuid4().hex, route, started, part, status, error_id
            )

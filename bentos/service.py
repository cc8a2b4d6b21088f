"""The champion of a pipeline as a BentoML 1.4 service.

The served model is a BentoML model holding a serving bundle (see
`ml_assets.lib.scoring`): verified model files, the reference tables the features join,
the pipeline config and metadata. The bento argument `model` names it: given at build
time (`bentoml build -f bentos/bentofile.yaml --arg model=<name:version> .`), it is stored
in the bento, which then always serves that model; there is no default.
The request models come from the bundle's pipeline schema, so the OpenAPI page documents
the real fields and unknown fields are refused. `/predict` takes a list of records (a
valid list is checked as columns, with the record model's own rules; anything else gets
the record model's answer: bentos.records_input);
`/predict_columns` takes the same rows as one list per field and answers in columns too,
which spares a batch client most of the per-record parsing and response cost.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import bentoml
from pydantic import Field

from bentos.errors import (
    Locate,
    Row,
    Score,
    column_rows,
    failure_response,
    in_columns,
    in_records,
    internal_error,
)
from bentos.experiment import LiveExperiment
from bentos.experiment_setup import BentoArguments, experiment_mode, load_experiment
from bentos.guards import guard
from bentos.image import serving_image
from bentos.inference_log import Part, worker_log
from bentos.io_specs import api_with_brief_refusals
from bentos.json_output import json_output_spec
from bentos.limits import CostGate, QueueFullError, explain_batch_limit
from bentos.merging import InFlight, RequestMerger
from bentos.observability import scoring_metrics
from bentos.openapi import too_busy, too_many_records
from bentos.records_input import COLUMNAR_MIN_ROWS, records_input_spec
from bentos.responses import listed, response_shape, served_metadata
from bentos.served_log import ServedLog
from ml_assets.lib.problems import problem_for
from ml_assets.lib.record_columns import RecordBatch, RecordColumnsValidator
from ml_assets.lib.request_model import columns_model, record_model, row_count
from ml_assets.lib.scoring import METADATA_FILE, Scorer, read_bundle_config

logger = logging.getLogger("bentoml.service.champion")
SCORING_ROUTES = ("/predict", "/predict_columns", "/explain")
# The scoring requests this worker is handling (bentos.merging, counted by bentos.guards).
IN_FLIGHT = InFlight()
TIMEOUT_SECONDS = 30


def _arguments() -> BentoArguments:
    try:
        return bentoml.use_arguments(BentoArguments)
    except bentoml.exceptions.InvalidArgument as exc:
        raise bentoml.exceptions.InvalidArgument(
            "bentos.service needs the BentoML model it serves, as the bento argument `model`:"
            " build with `bentoml build -f bentos/bentofile.yaml --arg model=<name:version> .`"
            " (the bento keeps it), or serve the module directly with `bentoml serve"
            f" bentos.service:ChampionService --arg model=<name:version>`. ({exc})"
        ) from exc


ARGUMENTS = _arguments()
MODEL_TAG = ARGUMENTS.model
_BUNDLE = Path(bentoml.models.get(MODEL_TAG).path)
_CONFIG = read_bundle_config(_BUNDLE)
# An experiment's challenger is packaged with the bento only when the mode uses it.
CHALLENGER_TAG = ARGUMENTS.challenger if experiment_mode(ARGUMENTS, _CONFIG) != "off" else None
_METADATA: dict[str, Any] = json.loads((_BUNDLE / METADATA_FILE).read_text())
Record = record_model(_CONFIG, example=_METADATA.get("example_record"))
Columns = columns_model(_CONFIG, example=_METADATA.get("example_record"))
Records = Annotated[
    list[Record],  # type: ignore[valid-type]
    Field(min_length=1, max_length=_CONFIG.serving.max_batch_size),
]
# The response bodies of the pipeline's problem type (bentos.responses).
_SHAPE = response_shape(problem_for(_CONFIG))
Prediction = _SHAPE.prediction
ColumnPredictions = _SHAPE.columns
PREDICTION_LIST, Predictions = listed(Prediction)
EXPLANATION_LIST, Explanations = listed(_SHAPE.explanation)


async def _predict_signature(self: Any, records: Records) -> None:
    """/predict's parameters, from which BentoML makes its input model."""


# /predict validates a valid batch of COLUMNAR_MIN_ROWS records or more as columns.
PREDICT_INPUT = records_input_spec(
    _predict_signature, RecordColumnsValidator(_CONFIG), min_rows=COLUMNAR_MIN_ROWS
)


def _predict_output() -> Predictions:  # type: ignore[valid-type]
    """/predict's declared output, from which BentoML makes its output model."""


PREDICT_OUTPUT = json_output_spec(_predict_output, PREDICTION_LIST)


@bentoml.service(
    name=_CONFIG.name,
    workers=_CONFIG.serving.workers,
    traffic={"timeout": TIMEOUT_SECONDS, "max_concurrency": 64},
    image=serving_image(),
)
class ChampionService:
    """Scores events with the pipeline's champion: the prediction (probability and label,
    class and class probabilities, or value and interval) and the model version."""

    bundle = bentoml.models.BentoModel(MODEL_TAG)
    if CHALLENGER_TAG is not None:
        challenger_bundle = bentoml.models.BentoModel(CHALLENGER_TAG)

    def __init__(self) -> None:
        self.scorer: Scorer | None = None
        self.problem: str | None = None
        try:
            self.scorer = Scorer.from_bundle(Path(self.bundle.path))
        except ValueError as exc:  # hash mismatch, untrusted type: stay up, never ready
            self.problem = str(exc)
            logger.error("champion not loaded, /readyz will fail: %s", exc)
        self._example = _example_row()  # tells a bad request from a failing service
        self.metrics = scoring_metrics()
        # Explanations cost more than scoring: a lower batch limit, one at a time, and
        # only as many waiting as end well inside the timeout (bentos.limits).
        example = self._example if self.scorer is not None else None
        if self.scorer is not None:
            self.scorer.prepare_contributions()
        self.explain_limit, per_record = explain_batch_limit(
            _CONFIG.serving, self._explain_rows, example
        )
        self._explain_gate = CostGate(TIMEOUT_SECONDS / 3, per_record, fallback_queue=5)
        # Concurrent requests are scored together (see bentos.merging).
        # A request alone in the worker is scored inline, without a thread hand-off.
        self._merger = RequestMerger(
            self._predict_now, _CONFIG.serving.max_batch_size, alone=IN_FLIGHT.alone
        )
        self.inference_log = worker_log(_CONFIG, self.metrics) if self.scorer is not None else None
        self.experiment: LiveExperiment | None = None
        try:
            self.experiment = self._experiment() if self.scorer is not None else None
        except ValueError as exc:  # the challenger's hashes: the bento is broken, never ready
            self.scorer, self.problem = None, f"challenger not loaded: {exc}"
            logger.error("challenger not loaded, /readyz will fail: %s", exc)
        self.served = ServedLog(self.inference_log, self.experiment, self.metrics, MODEL_TAG)
        # Everything loaded so far lives as long as the worker: move it out of the
        # collector's reach, so the full collections that a request's allocations trigger
        # do not walk the whole heap of bentoml, pandas and xgboost each time.
        gc.freeze()

    def __is_ready__(self) -> bool:
        return self.scorer is not None

    @bentoml.api(input_spec=PREDICT_INPUT, output_spec=PREDICT_OUTPUT)
    async def predict(self, records: Records) -> Predictions:  # type: ignore[valid-type]
        """Score a batch of records with the champion."""
        self._scorer()  # not loaded: 503 at once
        started = time.perf_counter()
        try:
            if self.experiment is not None and self.experiment.mode == "ab":
                predictions, parts = await self.experiment.split_records(
                    records, self._merger, self._champion_part
                )
            else:
                predictions = await self._merger(records)
                parts = [self._champion_part(records, predictions, None)]
            self.metrics.observe("/predict", predictions)
            self.served.answered("/predict", started, parts, len(records), records, None)
            return predictions
        except Exception as exc:  # answered by the error contract (bentos.errors)
            rows = [vars(r) for r in records]
            answer = await anyio.to_thread.run_sync(
                self._failure, "/predict", exc, rows, self._predict_rows, in_records
            )
            self._served_failure("/predict", started, answer, len(records), records, None)
            return answer

    @api_with_brief_refusals
    def predict_columns(self, columns: Columns) -> ColumnPredictions:  # type: ignore[valid-type]
        """Score a batch sent as columns (one list per field), with the same scorer as
        /predict; the answer holds one list per output, in the rows' order."""
        given = vars(columns)
        started = time.perf_counter()
        try:
            count = row_count(columns)
            if self.experiment is not None and self.experiment.mode == "ab":
                body, parts = self.experiment.split_columns(given, count, self._scorer(), MODEL_TAG)
                predictions = ColumnPredictions(**body)
            else:
                predictions = self._predict_columns(given)
                scorer = self._scorer()
                parts = [
                    Part(
                        "champion", scorer.model_version, MODEL_TAG, count, None, given, predictions
                    )
                ]
            self.metrics.observe_columns("/predict_columns", predictions)
            self.served.answered("/predict_columns", started, parts, count, None, given)
            return predictions
        except bentoml.exceptions.ServiceUnavailable:
            raise
        except Exception as exc:  # answered by the error contract (bentos.errors)
            count = row_count(columns)
            rows = column_rows(given, count)
            answer = self._failure(
                "/predict_columns", exc, rows, self._predict_column_rows, in_columns
            )
            self._served_failure("/predict_columns", started, answer, count, None, given)
            return answer

    @api_with_brief_refusals
    async def explain(self, records: Records) -> Explanations:  # type: ignore[valid-type]
        """Score a batch and give each record's top feature contributions. Explaining
        costs more than scoring: a batch holds at most the service's explain limit
        (`explain_max_batch_size` in /metadata), and a full queue answers 429."""
        self._scorer()
        if len(records) > self.explain_limit:
            return too_many_records("/explain", len(records), self.explain_limit)
        rows = [vars(r) for r in records]
        try:
            return await self._explain_gate.run(len(rows), lambda: self._explain(rows))
        except QueueFullError as exc:
            return too_busy("/explain", str(exc))

    @bentoml.on_shutdown
    def flush_inference_log(self) -> None:
        """A clean shutdown writes what the inference log still buffers (after the shadow
        challenger has scored what was handed to it)."""
        if self.experiment is not None:
            self.experiment.close()
        if self.inference_log is not None:
            self.inference_log.close()

    def _served_failure(self, route: str, started: float, answer: Any, *rest: Any) -> None:
        if self.scorer is not None:  # a missing model is a 503, not the champion's failure
            self.served.failed(route, started, answer, self.scorer.model_version, *rest)

    def _champion_part(
        self, records: Sequence[Any], outputs: Any, where: Sequence[int] | None
    ) -> Part:
        version = self._scorer().model_version
        return Part("champion", version, MODEL_TAG, len(records), records, None, outputs, where)

    def _experiment(self) -> LiveExperiment | None:
        """The experiment this bento runs (bentos.experiment_setup), or None."""
        log = self.inference_log
        bundle = Path(self.challenger_bundle.path) if CHALLENGER_TAG is not None else None
        return load_experiment(
            ARGUMENTS,
            _CONFIG,
            bundle,
            _SHAPE,
            PREDICTION_LIST.validate_python,
            None if log is None else log.append,
            lambda outcome: self.metrics.shadow.labels(outcome=outcome).inc(),
            lambda route, records: self.metrics.ab_fallback.labels(route=route).inc(records),
        )

    def _explain(self, rows: Sequence[Row]) -> Any:
        try:
            explained = self._explain_rows(rows)
        except Exception as exc:
            return self._failure("/explain", exc, rows, self._explain_rows, in_records)
        self.metrics.observe("/explain", explained)
        return explained

    def _predict_columns(self, columns: Mapping[str, Any]) -> Any:
        scorer = self._scorer()
        scored = scorer.score(scorer.events_from_columns(columns))
        return ColumnPredictions(**_SHAPE.column_values(scored, scorer.model_version))

    def _predict_column_rows(self, rows: Sequence[Row]) -> Any:
        return self._predict_columns({name: [row[name] for row in rows] for name in rows[0]})

    def _predict_now(self, records: Sequence[Any]) -> list[Any]:
        if isinstance(records, RecordBatch):  # validated as columns, already typed
            return self._predict_events(records.events)
        # A validated record's __dict__ is its field values (extra fields are refused):
        # what model_dump() gives, without a copy per record.
        return self._predict_rows([vars(r) for r in records])

    def _predict_rows(self, rows: Sequence[Row]) -> list[Any]:
        return self._predict_events(self._scorer().events_frame(rows))

    def _predict_events(self, events: Any) -> list[Any]:
        scorer = self._scorer()
        scored = scorer.score(events)
        # One validation of the whole list in pydantic-core, not one model per record.
        return PREDICTION_LIST.validate_python(_SHAPE.records(scored, scorer.model_version))

    def _explain_rows(self, rows: Sequence[Row]) -> list[Any]:
        scorer = self._scorer()
        events = scorer.events_frame(rows)
        scored = scorer.score(events)
        contributions = scorer.contributions(events, _CONFIG.serving.explain_top_k)
        records = _SHAPE.records(scored, scorer.model_version)
        return EXPLANATION_LIST.validate_python(
            [
                {**record, "contributions": top}
                for record, top in zip(records, contributions, strict=True)
            ]
        )

    def _failure(
        self, route: str, exc: Exception, rows: Sequence[Row], score: Score, locate: Locate
    ) -> Any:
        """The error contract's answer (bentos.errors). Typed Any: BentoML sends a
        returned starlette Response as it is, whatever the route's declared output."""
        return failure_response(route, exc, rows, score, self._example, locate)

    @bentoml.api
    def metadata(self) -> dict[str, Any]:
        """Model name and version, training windows, test metrics, schema, audit record."""
        try:
            return self._metadata()
        except Exception as exc:
            return internal_error("/metadata", exc)  # type: ignore[return-value]

    def _metadata(self) -> dict[str, Any]:
        experiment = self.experiment.describe() if self.experiment is not None else None
        return served_metadata(_METADATA, self.explain_limit, experiment)

    def _scorer(self) -> Scorer:
        if self.scorer is None:
            raise bentoml.exceptions.ServiceUnavailable(f"model not loaded: {self.problem}")
        return self.scorer


def _example_row() -> Row | None:
    """The bundle's example record as the request model gives it, if it has a valid one."""
    example = _METADATA.get("example_record")
    if not example:
        return None
    try:
        return vars(Record.model_validate(example))
    except ValueError:
        logger.warning("the bundle's example record does not fit its schema: ignored")
        return None


# Middlewares of the POST routes and bounded metric labels (bentos.guards).
guard(
    ChampionService,
    _CONFIG.serving,
    scoring=SCORING_ROUTES,
    others=("/metadata",),
    in_flight=IN_FLIGHT,
)

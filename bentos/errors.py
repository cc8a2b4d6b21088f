"""The scoring routes' error contract: the request's fault is a 400, the service's a 500.

A request that passed the request model can still fail in feature building or in the
model. Whose fault it is cannot be read from the exception's type (a KeyError comes as
readily from a broken bundle as from an odd value), so it is decided by experiment: if
the service's own example record scores, the service works and the request is at fault.
Then bisection finds the first record that fails alone, and giving it the example's value
of one field at a time finds the field that makes it fail. The answer is a 400 with
BentoML's validation-error body (`error`, `detail` of `type`/`loc`/`msg`), so a client
reads one shape for every refused request. Otherwise the answer is a 500 whose body
carries an error id, and the traceback is logged once, under that id.

The responses are returned, not raised: BentoML's handler logs a traceback of its own for
any exception, answers a 4xx `BentoMLException` with a one-element list, and replaces the
message of every 5xx with a fixed text (bentoml 1.4.39, `api_endpoint_wrapper`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

logger = logging.getLogger("bentoml.service.champion")

Row = Mapping[str, Any]
# Scores rows as one call, raising what the route would raise for them.
Score = Callable[[Sequence[Row]], object]
# Where a culprit is in the request body: (row, field) -> an error `loc`.
Locate = Callable[[int | None, str | None], list[str | int]]

CONTENT_ERROR = "the request cannot be scored"
INTERNAL_ERROR = "internal error: the service failed; quote error_id when reporting it"
_REASON_CHARS = 300


@dataclass(frozen=True)
class Blame:
    """The request's part in a failure: the first failing row and field, when known."""

    row: int | None
    field: str | None
    reason: str


def blame(score: Score, rows: Sequence[Row], example: Row | None) -> Blame | None:
    """Why `rows` failed, if it is their content; None when the service fails anyway
    (its example record does not score either) or has no example to tell by."""
    if example is None or _error(score, [example]) is not None:
        return None
    row, error = _first_failing_row(score, rows)
    if row is None or error is None:
        return Blame(None, None, "the rows score alone but not together")
    for name in rows[row]:
        if name in example and _error(score, [{**rows[row], name: example[name]}]) is None:
            return Blame(row, name, _reason(error))
    return Blame(row, None, _reason(error))


def failure_response(
    route: str,
    exc: BaseException,
    rows: Sequence[Row],
    score: Score,
    example: Row | None,
    locate: Locate,
) -> JSONResponse:
    """The answer to a request whose scoring raised `exc`: 400 or 500 (see the module)."""
    found = blame(score, rows, example)
    if found is None:
        return internal_error(route, exc)
    loc = locate(found.row, found.field)
    logger.warning("%s: request refused at %s: %s", route, loc, found.reason)
    return JSONResponse(
        {
            "error": CONTENT_ERROR,
            "detail": [{"type": "unscorable", "loc": loc, "msg": found.reason}],
        },
        status_code=400,
    )


def internal_error(route: str, exc: BaseException) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    logger.error("error_id=%s: %s failed", error_id, route, exc_info=exc)
    return JSONResponse({"error": INTERNAL_ERROR, "error_id": error_id}, status_code=500)


def _first_failing_row(score: Score, rows: Sequence[Row]) -> tuple[int | None, Exception | None]:
    """Bisection for a row that fails alone (scoring is row-wise: one exists unless the
    failure came from the rows together)."""
    low, high = 0, len(rows)
    while high - low > 1:
        middle = (low + high) // 2
        if _error(score, list(rows[low:middle])) is not None:
            high = middle
        else:
            low = middle
    if not rows:
        return None, None
    error = _error(score, [rows[low]])
    return (low, error) if error is not None else (None, None)


def _error(score: Score, rows: list[Row]) -> Exception | None:
    try:
        score(rows)
    except Exception as exc:  # any failure: the experiment only asks whether it fails
        return exc
    return None


def _reason(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def column_rows(columns: Mapping[str, Any], rows: int) -> list[Row]:
    """A columnar request's rows, for the error contract to find the failing one."""
    return [
        {name: None if values is None else values[i] for name, values in columns.items()}
        for i in range(rows)
    ]


def in_records(row: int | None, field: str | None) -> list[str | int]:
    """Where a failing value sits in a list of records (`records.<row>.<field>`)."""
    return ["records", *([] if row is None else [row]), *([] if field is None else [field])]


def in_columns(row: int | None, field: str | None) -> list[str | int]:
    """Where a failing value sits in columns (`columns.<field>.<row>`)."""
    return ["columns", field, row] if field is not None and row is not None else ["columns"]

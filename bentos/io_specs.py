"""Routes' input and output models: BentoML's own, with one class method replaced.

BentoML 1.4 makes a route's input and output models from its signature
(`IODescriptor.from_input`, `IODescriptor.from_output`). The routes here keep those
models, whose fields, name and schema are BentoML's (so /docs.json documents the routes
as BentoML would), and replace one class method of them (`replacing`): how `/predict`
parses its records (bentos.records_input), how a list answer is written
(bentos.json_output), and how a refused request is quoted (`briefly_refused`, below).

A body the input model refuses is answered by BentoML with pydantic's errors, whose
`loc` names the field, and the refusal is logged with the same text (bentoml 1.4.39,
`api_endpoint_wrapper`). A record with a key of a million characters got a 1 MB answer
and a 1 MB log line. With `briefly_refused`, a name in `loc` longer than
`MAX_NAME_CHARS` is cut to its start and its length, and so is a message longer than
`MAX_MESSAGE_CHARS`; the error's type and the rest of `loc` stay. A refusal with nothing
to cut is raised as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import bentoml
from bentoml import IODescriptor
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from starlette.requests import Request

MAX_NAME_CHARS = 64
MAX_MESSAGE_CHARS = 300
_KEPT_CHARS = 32

Func = TypeVar("Func", bound=Callable[..., Any])


def replacing(spec: type[IODescriptor], name: str, method: Any) -> type[IODescriptor]:
    """A subclass of `spec`, under its name, whose class method `name` is `method`."""
    return type(
        spec.__name__,
        (spec,),
        {
            "__module__": spec.__module__,
            "__qualname__": spec.__qualname__,
            name: classmethod(method),
        },
    )


def briefly_refused(spec: type[IODescriptor]) -> type[IODescriptor]:
    """`spec`, whose refusals quote long names and messages only in part (see the module)."""
    parse = spec.from_http_request.__func__

    async def from_http_request(cls: type[IODescriptor], request: Request, serde: Any) -> Any:
        try:
            return await parse(cls, request, serde)
        except ValidationError as exc:
            brief = brief_refusal(exc)
            if brief is None:
                raise
            raise brief from None

    return replacing(spec, "from_http_request", from_http_request)


def api_with_brief_refusals(func: Func) -> Func:
    """`@bentoml.api` for a route whose input model refuses briefly (`briefly_refused`)."""
    spec = briefly_refused(IODescriptor.from_input(func, skip_self=True))
    return bentoml.api(input_spec=spec)(func)


def brief_refusal(exc: ValidationError) -> ValidationError | None:
    """`exc` with its long names and messages cut; None when none is long."""
    errors = exc.errors(include_url=False, include_context=False)
    if not any(_is_long(error) for error in errors):
        return None
    details: list[InitErrorDetails] = [
        {
            "type": PydanticCustomError(error["type"], _cut(error["msg"], MAX_MESSAGE_CHARS)),
            "loc": tuple(_cut(part, MAX_NAME_CHARS) for part in error["loc"]),
            "input": error["input"],
        }
        for error in errors
    ]
    return ValidationError.from_exception_data(exc.title, details)


def _is_long(error: Any) -> bool:
    return len(error["msg"]) > MAX_MESSAGE_CHARS or any(
        isinstance(part, str) and len(part) > MAX_NAME_CHARS for part in error["loc"]
    )


def _cut(text: Any, limit: int) -> Any:
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return f"{text[:_KEPT_CHARS]}... ({len(text):,} characters)"

"""Every status a scoring route answers, in /docs.json, with the body it really has.

One error body for every status: an object with `error` (a sentence naming what is
wrong); a 400 adds `detail`, always a list of `{type, loc, msg}` (pydantic's validation
errors, or the same shape for a record that cannot be scored or a batch over a route's
own limit), and a 500 adds `error_id`.

BentoML 1.4 writes the same three error responses (400, 404, 500: its own exception
schemas) for every route, and has no public hook to change them: its spec generator
(`_bentoml_sdk.service.openapi`) takes only the routes' input and output models. So the
served document is patched here, once, on its way out: the error responses of the wrapped
routes are replaced by the ones they give (statuses and bodies checked against bentoml
1.4.39 in tests/test_service_contract.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from bentos.auth import Receive, Scope, Send

DOCS_PATH = "/docs.json"

_MESSAGE = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_LOC_PART = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
_VALIDATION = {
    "type": "object",
    "description": "BentoML's validation error (the request model refused the body), or the "
    "same shape for a valid request that cannot be scored (type `unscorable`).",
    "properties": {
        "error": {"type": "string"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "loc": {"type": "array", "items": _LOC_PART},
                    "msg": {"type": "string"},
                    "url": {"type": "string"},
                },
                "required": ["type", "loc", "msg"],
            },
        },
    },
    "required": ["error", "detail"],
}
_INTERNAL = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "error_id": {"type": "string", "description": "Id of the logged traceback."},
    },
    "required": ["error", "error_id"],
}
# status -> (description, body schema)
ERROR_RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Invalid request: malformed JSON, a key twice in one object, a field the schema "
        "refuses, a batch over the route's limit (/explain: `explain_max_batch_size` in "
        "/metadata), or a record that cannot be scored; `loc` names the field.",
        _VALIDATION,
    ),
    401: ("The X-API-Key header is missing or wrong (when an API key is configured).", _MESSAGE),
    413: (
        "The body is larger than the route reads: serving.max_batch_size x "
        "serving.max_record_bytes + 4096 bytes (the error names the limit).",
        _MESSAGE,
    ),
    415: ("The body is not application/json.", _MESSAGE),
    429: (
        "Too many requests at once (the service's max concurrency), or too many /explain "
        "requests queued.",
        _MESSAGE,
    ),
    500: ("The service failed; its log holds the traceback under `error_id`.", _INTERNAL),
    503: ("The model is not loaded (see /readyz); BentoML's generic error message.", _MESSAGE),
    504: ("Not answered within the service's timeout.", _MESSAGE),
}


def too_many_records(route: str, given: int, most: int) -> JSONResponse:
    """The 400 for a batch over a route's own limit, in the validation error's shape."""
    message = f"List should have at most {most} items for {route}, not {given}"
    return JSONResponse(
        {
            "error": f"too many records for {route}",
            "detail": [{"type": "too_long", "loc": ["records"], "msg": message}],
        },
        status_code=400,
    )


def too_busy(route: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": f"too many requests for {route}: {reason}; retry later"}, status_code=429
    )


# An LLM champion's text service: its own 502, and more to say under 503.
LLM_RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    502: (
        "The LLM endpoint answered an error status, something else than a chat completion, "
        "or an answer that is not exactly one of the labels; `error` says which (no label "
        "is made up). The service stays ready; retrying may help.",
        _MESSAGE,
    ),
    503: (
        "The model is not loaded (see /readyz; an LLM champion whose API key variable is "
        "not set never loads, and `error` names the variable), or the LLM endpoint could "
        "not be reached or did not answer within its timeout (the service stays ready; "
        "retry later).",
        _MESSAGE,
    ),
}


def error_responses(
    statuses: Iterable[int], overrides: Mapping[int, tuple[str, dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """The OpenAPI responses of `statuses`: ERROR_RESPONSES, or `overrides` where given."""
    table = {**ERROR_RESPONSES, **(overrides or {})}
    return {
        str(status): {
            "description": table[status][0],
            "content": {"application/json": {"schema": table[status][1]}},
        }
        for status in statuses
    }


def patch_spec(
    spec: MutableMapping[str, Any],
    routes: Mapping[str, Iterable[int]],
    overrides: Mapping[int, tuple[str, dict[str, Any]]] | None = None,
) -> None:
    """Make the error responses of each POST route in an OpenAPI document the given
    statuses of ERROR_RESPONSES (or `overrides`), in place; its 2xx responses stay."""
    for path, statuses in routes.items():
        operation = spec.get("paths", {}).get(path, {}).get("post")
        if operation is None:
            continue
        kept = {k: v for k, v in operation.get("responses", {}).items() if str(k).startswith("2")}
        operation["responses"] = {**kept, **error_responses(statuses, overrides)}


class OpenApiErrorsMiddleware:
    """Rewrites the answer to GET /docs.json with `patch_spec` for `routes`: path ->
    the error statuses it answers with (described by `overrides` where given)."""

    def __init__(
        self,
        app: Any,
        routes: Mapping[str, Iterable[int]],
        overrides: Mapping[int, tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.app = app
        self.routes = {path: tuple(statuses) for path, statuses in routes.items()}
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != DOCS_PATH:
            await self.app(scope, receive, send)
            return
        start: MutableMapping[str, Any] = {}
        chunks: list[bytes] = []

        async def hold(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await _send_patched(send, start, b"".join(chunks), self.routes, self.overrides)

        await self.app(scope, receive, hold)


async def _send_patched(
    send: Send,
    start: MutableMapping[str, Any],
    body: bytes,
    routes: Mapping[str, Iterable[int]],
    overrides: Mapping[int, tuple[str, dict[str, Any]]],
) -> None:
    if start.get("status") == 200:
        spec = json.loads(body)
        patch_spec(spec, routes, overrides)
        body = json.dumps(spec).encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""A JSON body with a key twice in one object is a 400, not "the last one wins".

BentoML parses bodies with pydantic-core, which keeps the last value of a repeated key:
`{"carrier": "ZZ", "carrier": "UA"}` was scored as UA, so what a proxy, a log or a
second parser reads from the same body can differ from what was scored. A body that is
not JSON is left to BentoML, whose 400 says where it breaks.

The body (read whole by `bentos.limits.BodyLimitMiddleware` before this runs) is parsed
with pydantic-core, as the route will parse it, and the parse is kept in the request's
scope (`PARSED_JSON`) for the route to use (`bentos.records_input`): one parse per
request. The check counts keys instead of parsing twice: every key of a JSON text is a
string closed by `"` and then, with no whitespace between (a body with whitespace there
takes the slow check), `:`, so `body.count(b'":')` is at least the number of keys
written; the parsed objects hold at most that many. When the count equals the keys of
some of the parsed objects (`_object_keys`: the top ones and the objects of lists, the
shape of a request body), no object anywhere lost a key to a repeat. Otherwise (any
repeat, nested objects, a `":` inside a string value, whitespace before a colon) the body
is parsed once more with the standard library, which reports every object's pairs and
names the repeated key: 5-10 ms for a 1000-record body, which the count spares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pydantic_core

from bentos.auth import Receive, Scope, Send
from bentos.limits import replay_body

# The scope key under which the middleware leaves the body as pydantic-core parsed it.
PARSED_JSON = "mlap.parsed_json"
_SPACE_BEFORE_COLON = re.compile(rb'"[ \t\n\r]+:')
_MAX_DEPTH = 8


class DuplicateKeyError(ValueError):
    pass


class NoDuplicateKeysMiddleware:
    """Refuses a request to one of `paths` whose JSON body repeats a key in an object."""

    def __init__(self, app: Any, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        message = await receive()
        if message["type"] != "http.request":
            return
        body = message.get("body", b"")
        while message.get("more_body", False):  # not read whole before: read it here
            message = await receive()
            body += message.get("body", b"")
        try:
            parsed = pydantic_core.from_json(body)
        except ValueError:  # not JSON for pydantic-core: the slow check decides
            parsed = _NOT_PARSED
        if parsed is _NOT_PARSED or not keys_all_distinct(body, parsed):
            repeated = duplicate_key(body)
            if repeated is not None:
                await _refuse(send, scope["path"], repeated)
                return
        if parsed is not _NOT_PARSED:
            scope[PARSED_JSON] = parsed
        await self.app(scope, replay_body(body, receive), send)


_NOT_PARSED = object()


def keys_all_distinct(body: bytes, parsed: Any) -> bool:
    """True when counting proves that no object of `body` (whose parse is `parsed`)
    repeats a key; False when it cannot tell (see the module)."""
    if _SPACE_BEFORE_COLON.search(body) is not None:
        return False
    return body.count(b'":') == _object_keys(parsed, 0)


def _object_keys(value: Any, depth: int) -> int:
    """The keys of the objects of `value` down to lists of objects, without walking the
    values of a list's objects: at most all the keys `value` holds."""
    if type(value) is dict:
        if depth >= _MAX_DEPTH:
            return len(value)
        inner = (v for v in value.values() if type(v) is dict or type(v) is list)
        return len(value) + sum(_object_keys(v, depth + 1) for v in inner)
    if type(value) is list and value and type(value[0]) is dict:
        if set(map(type, value)) == {dict}:  # the usual list of records, summed in C
            return sum(map(len, value))
        return sum(len(item) for item in value if type(item) is dict)
    return 0


def duplicate_key(body: bytes) -> str | None:
    """The first key that some object of the JSON `body` holds twice; None if none does
    or the body is not JSON."""
    try:
        json.loads(body, object_pairs_hook=_unique)
    except DuplicateKeyError as exc:
        return str(exc)
    except (ValueError, RecursionError):  # not JSON (or too deep): BentoML answers
        return None
    return None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return found


async def _refuse(send: Send, path: str, key: str) -> None:
    body = json.dumps(
        {
            "error": f"invalid JSON body for {path}: duplicate key {key!r}",
            "detail": [
                {
                    "type": "duplicate_key",
                    "loc": [],
                    "msg": f"key {key!r} appears more than once in one object",
                }
            ],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

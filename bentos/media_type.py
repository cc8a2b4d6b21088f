"""JSON only, on the routes that ask for it: any other declared media type is a 415.

BentoML picks a request's parser by its Content-Type: JSON for unknown types, a form
parser for forms and multipart, which raises (a 500) on a multipart body without a
boundary. A route wrapped here answers 415, naming the type it wants, before any parser
runs. A request without Content-Type stays JSON, as BentoML reads it.
"""

import json
from collections.abc import Iterable
from typing import Any

from bentos.auth import Receive, Scope, Send

JSON = b"application/json"


class JsonOnlyMiddleware:
    """Refuses a POST to one of `paths` whose Content-Type is not application/json."""

    def __init__(self, app: Any, paths: Iterable[str]) -> None:
        self.app = app
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            declared = dict(scope.get("headers") or []).get(b"content-type")
            if declared is not None and declared.split(b";")[0].strip().lower() != JSON:
                await _refuse(send, scope["path"], declared.decode("latin-1"))
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, path: str, declared: str) -> None:
    body = json.dumps(
        {"error": f"unsupported content type {declared!r} for {path}: send application/json"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 415,
            "headers": [(b"content-type", JSON), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""Optional API key for the scoring routes; the probes and docs stay open."""

import hmac
import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ApiKeyMiddleware:
    """When the environment variable `env_name` is set, the `protected` routes need its value
    in the `X-API-Key` header (401 otherwise). Unset means no key is required."""

    def __init__(self, app: Any, env_name: str, protected: Iterable[str]) -> None:
        self.app = app
        self.env_name = env_name
        self.protected = frozenset(protected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        expected = os.environ.get(self.env_name)
        if scope["type"] != "http" or not expected or scope["path"] not in self.protected:
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope.get("headers") or [] if name == b"x-api-key"]
        # Bytes on both sides: compare_digest refuses non-ASCII text, and a header is bytes.
        if len(given) == 1 and hmac.compare_digest(given[0], expected.encode()):
            await self.app(scope, receive, send)
            return
        reason = (
            "missing X-API-Key header"
            if not given
            else "more than one X-API-Key header"
            if len(given) > 1
            else "invalid X-API-Key"
        )
        body = json.dumps({"error": f"unauthorized: {reason}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"ApiKey"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

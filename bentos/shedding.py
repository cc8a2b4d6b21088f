"""Over its concurrency limit, a request is refused before tracing and the access log.

BentoML 1.4 answers 429 from its `MaxConcurrencyMiddleware`, which it puts inside its
metrics, OpenTelemetry and access-log middlewares (`ServiceAppFactory.middlewares`): a
refused request was still traced and logged, about 0.5 ms of the one worker's event loop.
At 3x the service's sustainable rate that was 1,800 refusals a second on the loop that
also answers `/livez` and `/readyz`, which then took 1.2-2.7 s (benchmarks/reliability,
soak.py). `shed_before_tracing` puts `LoadShedMiddleware`, with the same limit and the
same exempt paths, right inside BentoML's metrics middleware (so `/metrics` still counts
every 429) and outside the rest: a refused request costs the loop what uvicorn's parse and
one prebuilt answer cost. BentoML's own limit stays behind it, never reached first.

`ServiceAppFactory.middlewares` is not public API: the patch checks what it finds
(a property whose list holds OpenTelemetry's middleware) and otherwise leaves BentoML's
own limit alone. tests/test_load_shedding.py checks the order against bentoml 1.4.39.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bentos.auth import Receive, Scope, Send

logger = logging.getLogger("bentoml.service.shedding")
# BentoML's MaxConcurrencyMiddleware.BYPASS_PATHS (bentoml 1.4): never refused for load.
EXEMPT_PATHS = frozenset({"/metrics", "/healthz", "/livez", "/readyz"})
_BODY = b'{"error":"Too many requests"}'  # BentoML's own 429 body
_HEADERS = (
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
    (b"retry-after", b"1"),
)
_PATCHED = "_mlap_sheds_before_tracing"


class LoadShedMiddleware:
    """Answers 429 at once to a request that finds `limit` requests in flight; the
    `exempt` paths (probes, metrics) always go through and are not counted."""

    def __init__(self, app: Any, limit: int, exempt: Iterable[str] = EXEMPT_PATHS) -> None:
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, not {limit}")
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            # New messages each time: an outer middleware may add to what it is sent.
            await send({"type": "http.response.start", "status": 429, "headers": [*_HEADERS]})
            await send({"type": "http.response.body", "body": _BODY})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def shed_before_tracing() -> bool:
    """Make the service apps BentoML builds in this process refuse over-limit requests
    with `LoadShedMiddleware` (see the module). True if BentoML's app factory has the
    shape this relies on (or was already patched); False, with a warning, otherwise."""
    from _bentoml_impl.server.app import ServiceAppFactory
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from starlette.middleware import Middleware

    built = ServiceAppFactory.__dict__.get("middlewares")
    if not isinstance(built, property) or built.fget is None:
        logger.warning("BentoML's app factory has no middlewares property: load is shed late")
        return False
    if getattr(built.fget, _PATCHED, False):
        return True
    original = built.fget

    def middlewares(factory: Any) -> list[Any]:
        stack = original(factory)
        limit = getattr(factory, "max_concurrency", None)
        tracing = [i for i, m in enumerate(stack) if m.cls is OpenTelemetryMiddleware]
        if not limit or not tracing:
            if limit:
                logger.warning("no tracing middleware in BentoML's stack: load is shed late")
            return stack
        exempt = {*EXEMPT_PATHS, *_probe_paths(factory)}
        shed = Middleware(LoadShedMiddleware, limit=limit, exempt=exempt)
        return [*stack[: tracing[0]], shed, *stack[tracing[0] :]]

    setattr(middlewares, _PATCHED, True)
    ServiceAppFactory.middlewares = property(middlewares)
    return True


def _probe_paths(factory: Any) -> list[str]:
    """The service's own probe endpoints, as BentoML exempts them from its limit."""
    endpoints = getattr(factory.service, "config", {}).get("endpoints", {})
    return [path for path in (endpoints.get("livez"), endpoints.get("readyz")) if path]

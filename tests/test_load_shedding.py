"""Over the concurrency limit, requests are refused before BentoML's tracing and access log
(bentos.shedding), probes always pass, and BentoML's app is built in that order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import bentoml
import httpx
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

from bentos.observability import bound_route_labels
from bentos.shedding import LoadShedMiddleware, shed_before_tracing

LIMIT = 2


class _Held:
    """An ASGI app that answers 200 once `release` is set; counts what reached it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.reached: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.reached.append(scope["path"])
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: Any, path: str) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "POST"}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_request_over_the_limit_is_refused_at_once_and_probes_always_pass() -> None:
    async def scenario() -> None:
        inner = _Held()
        app = LoadShedMiddleware(inner, limit=LIMIT)
        held = [asyncio.create_task(_call(app, "/predict")) for _ in range(LIMIT)]
        await asyncio.sleep(0)
        assert app.in_flight == LIMIT
        status, body = await asyncio.wait_for(_call(app, "/predict"), timeout=1)
        assert status == 429
        assert json.loads(body) == {"error": "Too many requests"}
        assert inner.reached == ["/predict"] * LIMIT  # the refused one never got in
        probes = [asyncio.create_task(_call(app, p)) for p in ("/livez", "/readyz", "/metrics")]
        await asyncio.sleep(0)
        assert inner.reached[LIMIT:] == ["/livez", "/readyz", "/metrics"]
        inner.release.set()
        assert [s for s, _ in await asyncio.gather(*held, *probes)] == [200] * (LIMIT + 3)
        assert app.in_flight == 0
        assert await _call(app, "/predict") == (200, b"ok")

    asyncio.run(scenario())


def test_a_failing_request_frees_its_place() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("scoring failed")

    app = LoadShedMiddleware(failing, limit=1)
    with pytest.raises(RuntimeError):
        asyncio.run(_call(app, "/predict"))
    assert app.in_flight == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoadShedMiddleware(_Held(), limit=0)


GATE: dict[str, asyncio.Event] = {}


@bentoml.service(traffic={"max_concurrency": LIMIT, "timeout": 10})
class HeldService:
    @bentoml.api
    async def wait(self) -> str:
        await GATE["release"].wait()
        return "done"


def test_bentoml_builds_the_app_refusing_before_tracing_and_counting_in_metrics() -> None:
    # Two service modules bound their metrics' route labels in this process (the tests
    # import both): a path neither knows (/wait) must still reach its route, not a 404.
    bound_route_labels(("/predict",))
    bound_route_labels(("/classify",))
    assert shed_before_tracing()
    assert shed_before_tracing()  # idempotent
    app: Any = HeldService.to_asgi()
    order = [m.cls for m in app.user_middleware]
    shed = order.index(LoadShedMiddleware)
    assert order[shed + 1] is OpenTelemetryMiddleware
    assert "Metrics" in order[shed - 1].__name__  # BentoML's metrics still count a 429
    assert order.count(LoadShedMiddleware) == 1

    async def scenario() -> None:
        GATE["release"] = asyncio.Event()
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            held = [asyncio.create_task(client.post("/wait", json={})) for _ in range(LIMIT)]
            for _ in range(50):  # until both are in flight
                await asyncio.sleep(0.01)
            refused = await client.post("/wait", json={})
            assert refused.status_code == 429
            assert refused.json() == {"error": "Too many requests"}
            assert (await client.get("/livez")).status_code == 200
            GATE["release"].set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200] * LIMIT
            assert (await client.post("/wait", json={})).status_code == 200

    asyncio.run(scenario())

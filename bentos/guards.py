"""The middlewares around the service's POST routes, in one place and in order.

BentoML wraps a service's middlewares inside its own (metrics, timeout, max concurrency),
the first added outermost. So a request without the API key is refused before its body
is read, a wrong media type before the body limit, and the body limit before the body
is parsed for repeated keys or by BentoML. Over the concurrency limit, a request is
refused before BentoML's tracing and access log (bentos.shedding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bentos.auth import ApiKeyMiddleware
from bentos.limits import ENVELOPE_BYTES, BodyLimitMiddleware, max_body_bytes
from bentos.media_type import JsonOnlyMiddleware
from bentos.merging import InFlight, InFlightMiddleware
from bentos.observability import BUILTIN_ROUTES, bound_route_labels
from bentos.openapi import OpenApiErrorsMiddleware
from bentos.shedding import shed_before_tracing
from bentos.strict_json import NoDuplicateKeysMiddleware
from ml_assets.lib.config.lifecycle import ServingConfig

# What the routes answer besides 200 (bentos.openapi); /metadata needs no model.
SCORING_STATUSES = (400, 401, 413, 415, 429, 500, 503, 504)
OTHER_STATUSES = (400, 401, 413, 415, 429, 500, 504)


def guard(
    service: Any,
    serving: ServingConfig,
    scoring: Sequence[str],
    others: Sequence[str],
    in_flight: InFlight | None = None,
    scoring_statuses: Sequence[int] = SCORING_STATUSES,
    described: Mapping[int, tuple[str, dict[str, Any]]] | None = None,
) -> None:
    """Add the middlewares to `service` (a `@bentoml.service` class) for its POST routes:
    the `scoring` ones and the `others`; `in_flight`, if given, counts the scoring requests.
    `scoring_statuses` are the scoring routes' error statuses in the OpenAPI document,
    `described` the responses (description, body schema) that add to or replace
    bentos.openapi's ERROR_RESPONSES for this service."""
    routes = (*scoring, *others)
    bound_route_labels((*routes, *BUILTIN_ROUTES))
    shed_before_tracing()
    if in_flight is not None:
        service.add_asgi_middleware(InFlightMiddleware, paths=scoring, counter=in_flight)
    service.add_asgi_middleware(ApiKeyMiddleware, env_name=serving.api_key_env, protected=routes)
    # BentoML's form parser answers a multipart body without a boundary with a 500.
    service.add_asgi_middleware(JsonOnlyMiddleware, paths=routes)
    service.add_asgi_middleware(
        BodyLimitMiddleware,
        max_bytes=max_body_bytes(serving.max_batch_size, serving.max_record_bytes),
        paths=routes,
        rule=f"serving.max_batch_size {serving.max_batch_size} x serving.max_record_bytes "
        f"{serving.max_record_bytes} + {ENVELOPE_BYTES}",
    )
    service.add_asgi_middleware(NoDuplicateKeysMiddleware, paths=routes)
    service.add_asgi_middleware(
        OpenApiErrorsMiddleware,
        routes={
            **{path: tuple(scoring_statuses) for path in scoring},
            **{path: OTHER_STATUSES for path in others},
        },
        overrides=described,
    )

"""What /metrics tells operators: bounded route labels, records scored, predictions.

BentoML labels its request metrics with the raw request path, so every unknown path a
client tries became a new series for good (3,000 random 404s took /metrics from 470 to
60,470 series and the server 43 MB up). BentoML 1.4 has no setting for that label and
adds its metrics middleware outside every middleware a service can add, so
`bound_route_labels` swaps the middleware class BentoML builds the app with (it is looked
up when the app is built, after the service module is imported) for a subclass that
labels any path that is not a route with `OTHER_ROUTE`. The request itself still goes to
its real path. Checked against bentoml 1.4.39 by tests/test_serving.py, which fails if
the series grow again.

`ScoringMetrics` counts what a request count hides: records scored per route (a
1000-record batch is 1000 records), predicted labels, and the distribution of predicted
probabilities (classification) or values (regression). Its label values are routes and
the model's own classes, so they stay bounded too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

import numpy as np

from bentos.auth import Receive, Scope, Send

OTHER_ROUTE = "other"
_ORIGINAL_PATH = "mlap.original_path"
# BentoML's own routes besides the service's APIs (bentoml 1.4 ServiceAppFactory).
BUILTIN_ROUTES = ("/", "/docs.json", "/schema.json", "/metrics", "/livez", "/readyz", "/healthz")


# The routes of every service that bound its labels in this process (one, when served).
_KNOWN_ROUTES: set[str] = set()


def bound_route_labels(routes: Iterable[str]) -> None:
    """Make BentoML's request metrics label every path outside `routes` as OTHER_ROUTE.
    Called again (another service module imported in the same process), it adds that
    service's routes: BentoML's class is swapped once, so a path is never relabelled twice
    (the second swap would have lost the real path of a path unknown to both)."""
    from bentoml._internal.server.http import instruments

    _KNOWN_ROUTES.update(routes)
    if getattr(instruments.RunnerTrafficMetricsMiddleware, "bounds_route_labels", False):
        return
    base = instruments.RunnerTrafficMetricsMiddleware
    known = _KNOWN_ROUTES

    class BoundedRouteMetrics(base):  # type: ignore[misc,valid-type]
        bounds_route_labels = True

        def __init__(self, app: Any, **options: Any) -> None:
            super().__init__(_RestorePath(app), **options)

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket") and scope["path"] not in known:
                scope = {**scope, "path": OTHER_ROUTE, _ORIGINAL_PATH: scope["path"]}
            await super().__call__(scope, receive, send)

    instruments.RunnerTrafficMetricsMiddleware = BoundedRouteMetrics  # type: ignore[misc,assignment]


class _RestorePath:
    """Gives the app behind the metrics middleware the request's real path back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if _ORIGINAL_PATH in scope:
            original = scope[_ORIGINAL_PATH]
            scope = {k: v for k, v in scope.items() if k != _ORIGINAL_PATH}
            scope["path"] = original
        await self.app(scope, receive, send)


_METRICS: list[ScoringMetrics] = []


def scoring_metrics() -> ScoringMetrics:
    """The process's ScoringMetrics (a metric name registers once per process). Call it
    in the worker (the service's `__init__`): prometheus_client must be imported after
    BentoML has set its multiprocess folder, or the values never reach /metrics."""
    if not _METRICS:
        _METRICS.append(ScoringMetrics())
    return _METRICS[0]


class ScoringMetrics:
    """Model-level metrics of the service (see the module)."""

    def __init__(self) -> None:
        import prometheus_client

        self.records = prometheus_client.Counter(
            "mlap_records_scored", "Records scored (not requests), by route.", ["route"]
        )
        self.labels = prometheus_client.Counter(
            "mlap_predicted_labels",
            "Predicted labels (classification), by route and label.",
            ["route", "label"],
        )
        self.probability = prometheus_client.Histogram(
            "mlap_predicted_probability",
            "Probability of the predicted label (binary: of the label being true).",
            ["route"],
            buckets=[i / 10 for i in range(1, 11)],
        )
        self.value = prometheus_client.Summary(
            "mlap_predicted_value", "Predicted values (regression), by route.", ["route"]
        )
        self.log_written = prometheus_client.Counter(
            "mlap_inference_log_written", "Scored records written to the inference log."
        )
        self.log_dropped = prometheus_client.Counter(
            "mlap_inference_log_dropped",
            "Scored records dropped from the inference log's full buffer (oldest first).",
        )
        self.log_failures = prometheus_client.Counter(
            "mlap_inference_log_write_failures",
            "Writes of the inference log that failed (their records are retried).",
        )
        self.shadow = prometheus_client.Counter(
            "mlap_shadow_requests",
            "Requests of a shadow experiment by outcome: scored by the challenger, skipped "
            "(its queue was full), failed.",
            ["outcome"],
        )
        self.failed = prometheus_client.Counter(
            "mlap_failed_requests",
            "Requests the service failed to score (answered 5xx), by route and the model "
            "version that was to answer (also in the inference log's errors files).",
            ["route", "model_version"],
        )
        self.ab_fallback = prometheus_client.Counter(
            "mlap_ab_fallback_records",
            "Records of an A/B experiment that the challenger failed to score (it raised), "
            "answered by the champion instead, by route.",
            ["route"],
        )

    def observe(self, route: str, predictions: Sequence[Any]) -> None:
        """Count one response's predictions (the route's response models)."""
        outputs = [vars(p) for p in predictions]  # a model's fields, without __getattr__
        self._outputs(
            route,
            len(outputs),
            [o.get("probability") for o in outputs],
            [o.get("label") for o in outputs],
            [o.get("prediction") for o in outputs],
        )

    def observe_columns(self, route: str, columns: Any) -> None:
        """Count a columnar response (`/predict_columns`)."""
        outputs = vars(columns)
        values = outputs.get("prediction") or []
        probabilities = outputs.get("probability") or []
        labels = outputs.get("label") or []
        paired = min(len(probabilities), len(labels))
        self._outputs(
            route,
            max(len(values), len(probabilities)),
            probabilities[:paired],
            labels[:paired],
            values,
        )

    def _outputs(
        self,
        route: str,
        records: int,
        probabilities: Sequence[float | None],
        labels: Sequence[Any],
        values: Sequence[float | None],
    ) -> None:
        """One update per series, not one per record: a 1000-record batch observed record
        by record cost more than scoring it (each update takes a lock and, under BentoML,
        writes a memory-mapped file)."""
        self.records.labels(route=route).inc(records)
        given = _given(probabilities)
        if given:
            observe_histogram(self.probability.labels(route=route), given)
        # Counted by value in C, then named: one response's labels share one type.
        for label, count in Counter(labels).items():
            if label is not None:
                text = str(label).lower() if isinstance(label, bool) else str(label)
                self.labels.labels(route=route, label=text).inc(count)
        given = _given(values)
        if given:
            observe_summary(self.value.labels(route=route), given)


def _given(amounts: Sequence[float | None]) -> Sequence[float]:
    """The amounts that are not None (the sequence itself when none is: tested in C)."""
    if None not in amounts:
        return amounts  # type: ignore[return-value]
    return [amount for amount in amounts if amount is not None]


def observe_histogram(histogram: Any, amounts: Sequence[float]) -> None:
    """`histogram.observe(a)` for every `a` of `amounts`, with one update per bucket.
    prometheus_client has no bulk observe; this writes the child's own bucket and sum
    values as its `observe` does (0.26: `_upper_bounds`, `_buckets`, `_sum`), and falls
    back to `observe` per amount where a release lays them out otherwise."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for amount in amounts:
            histogram.observe(amount)
        return
    values = np.asarray(amounts, dtype="float64")
    # observe() counts an amount in the first bucket whose bound is >= it; NaN in none.
    found = np.searchsorted(np.asarray(bounds, dtype="float64"), values, side="left")
    counts = np.bincount(found[~np.isnan(values)], minlength=len(bounds) + 1)
    total.inc(float(values.sum()))
    for index, count in enumerate(counts[: len(bounds)].tolist()):
        if count:
            buckets[index].inc(count)


def observe_summary(summary: Any, amounts: Sequence[float]) -> None:
    """`summary.observe(a)` for every `a` of `amounts`, as one count and one sum update
    (prometheus_client 0.26: `_count`, `_sum`; `observe` per amount otherwise)."""
    count = getattr(summary, "_count", None)
    total = getattr(summary, "_sum", None)
    if count is None or total is None:
        for amount in amounts:
            summary.observe(amount)
        return
    count.inc(len(amounts))
    total.inc(float(np.asarray(amounts, dtype="float64").sum()))

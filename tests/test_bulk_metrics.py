"""The service's metrics take a batch in one update per series (bentos.observability):
the same samples as observing each record on its own."""

from __future__ import annotations

import math

import prometheus_client
import pytest

from bentos.observability import observe_histogram, observe_summary

BUCKETS = [i / 10 for i in range(1, 11)]
AMOUNTS = [0.0, 0.1, 0.1000001, 0.35, 0.5, 0.99, 1.0, 1.5, -0.2, 0.2, 0.2, 0.7]


def _samples(registry: prometheus_client.CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


@pytest.mark.parametrize("amounts", [AMOUNTS, [0.42], [2.0, 3.0], [float("nan"), 0.3]])
def test_bulk_histogram_matches_observe(amounts: list[float]) -> None:
    one, bulk = prometheus_client.CollectorRegistry(), prometheus_client.CollectorRegistry()
    single = prometheus_client.Histogram("p", "p", ["route"], buckets=BUCKETS, registry=one)
    many = prometheus_client.Histogram("p", "p", ["route"], buckets=BUCKETS, registry=bulk)
    for amount in amounts:
        single.labels(route="/predict").observe(amount)
    observe_histogram(many.labels(route="/predict"), amounts)
    expected, got = _samples(one), _samples(bulk)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, nan_ok=True), key
    if not any(math.isnan(a) for a in amounts):
        assert got[("p_count", "")] == len(amounts)


def test_bulk_summary_matches_observe() -> None:
    one, bulk = prometheus_client.CollectorRegistry(), prometheus_client.CollectorRegistry()
    single = prometheus_client.Summary("v", "v", ["route"], registry=one)
    many = prometheus_client.Summary("v", "v", ["route"], registry=bulk)
    for amount in AMOUNTS:
        single.labels(route="/predict").observe(amount)
    observe_summary(many.labels(route="/predict"), AMOUNTS)
    assert _samples(bulk) == pytest.approx(_samples(one))

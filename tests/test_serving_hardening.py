"""Tier 5: what a hostile client can make the served champion do (issue 19), against the
session's real `bentoml serve` (tests/served_champion.py)."""

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bentos.limits import CostGate, QueueFullError, max_body_bytes
from tests.openapi_check import assert_conforms, published_spec
from tests.served_champion import DAYS, as_columns, first_thousand, records

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def sample(served: dict[str, Any]) -> list[dict[str, Any]]:
    return records(served["state"], DAYS[0])[0] + records(served["state"], DAYS[1])[0]


def _explain_limit(url: str) -> int:
    return int(httpx.post(f"{url}/metadata", timeout=30).json()["explain_max_batch_size"])


def _post_all(url: str, route: str, bodies: list[Any]) -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.post(f"{url}{route}", json=b) for b in bodies))

    return asyncio.run(send())


def test_every_error_answer_conforms_to_the_published_openapi(
    served: dict[str, Any], server: str, sample: list[dict[str, Any]]
) -> None:
    spec = published_spec(server)
    for route in ("/predict", "/predict_columns", "/explain"):
        declared = set(spec["paths"][route]["post"]["responses"])
        assert declared == {"200", "400", "401", "413", "415", "429", "500", "503", "504"}
    record = sample[0]
    limit = _explain_limit(server)
    serving = served["config"].serving
    too_big = max_body_bytes(serving.max_batch_size, serving.max_record_bytes) + 1
    answers = {
        "wrong type": ("/predict", {"json": {"records": [record | {"hour": "x"}]}}, 400),
        "not a list": ("/predict", {"json": {"records": 5}}, 400),
        "malformed": ("/predict", {"content": b'{"records": [', "headers": JSON}, 400),
        "too many": ("/predict", {"json": {"records": [record] * 1001}}, 400),
        "column": ("/predict_columns", {"json": {"columns": {"hour": [1]}}}, 400),
        "explain limit": ("/explain", {"json": {"records": [record] * (limit + 1)}}, 400),
        "too large": ("/predict", {"content": b" " * too_big, "headers": JSON}, 413),
        "text": ("/explain", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
        # Was a 500 from BentoML's form parser: /metadata takes JSON only now too.
        "multipart": (
            "/metadata",
            {"content": b"{}", "headers": {"content-type": "multipart/form-data"}},
            415,
        ),
        "metadata body": ("/metadata", {"content": b"[", "headers": JSON}, 400),
    }
    for case, (route, request, status) in answers.items():
        answer = httpx.post(f"{server}{route}", timeout=30, **request)
        assert answer.status_code == status, (case, answer.status_code, answer.text)
        assert_conforms(spec, route, answer)
        if status == 400:
            assert isinstance(answer.json()["detail"], list), case


def test_a_body_over_the_limit_is_a_413_before_parsing_and_one_under_is_read(
    served: dict[str, Any], server: str, sample: list[dict[str, Any]]
) -> None:
    serving = served["config"].serving
    limit = max_body_bytes(serving.max_batch_size, serving.max_record_bytes)
    assert limit == 1000 * 4096 + 4096  # the rule the README states
    body = json.dumps({"records": sample[:1000]}).encode()
    under = body + b" " * (limit - len(body))  # JSON allows trailing whitespace
    answer = httpx.post(f"{server}/predict", content=under, headers=JSON, timeout=60)
    assert len(under) == limit and answer.status_code == 200, answer.text[:300]
    assert len(answer.json()) == 1000
    over = under + b" "
    refused = httpx.post(f"{server}/predict", content=over, headers=JSON, timeout=60)
    assert refused.status_code == 413, refused.text
    assert str(limit) in refused.text and "max_batch_size" in refused.text
    # Without a Content-Length (chunked), the body is counted as it comes.
    chunks = (over[i : i + 65536] for i in range(0, len(over), 65536))
    chunked = httpx.post(f"{server}/predict_columns", content=chunks, headers=JSON, timeout=60)
    assert chunked.status_code == 413, chunked.text
    assert f"more than {limit} bytes" in chunked.text


def test_explain_has_its_own_batch_limit_and_concurrent_explains_never_time_out(
    server: str, sample: list[dict[str, Any]]
) -> None:
    # Measured at start-up on the bundle's example record (an event of the first trained
    # day), within the explain budget and never above max_batch_size.
    limit = _explain_limit(server)
    assert 1 <= limit <= 1000
    refused = httpx.post(
        f"{server}/explain", json={"records": sample[: limit + 1]}, timeout=30
    ).json()
    assert refused["detail"][0]["loc"] == ["records"]
    # Below max_batch_size the refusal names /explain's own limit; at it (a fast machine
    # measures 1000), the request model's length limit refuses first.
    named = f"at most {limit} items" + (" for /explain" if limit < 1000 else "")
    assert named in refused["detail"][0]["msg"]
    # Issue 19: four 1000-record explanations at once gave 200, 200, 504, 504.
    spec = published_spec(server)
    before = _series(server)
    answers = _post_all(server, "/explain", [{"records": sample[:limit]}] * 24)
    after = _series(server)
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 429} and statuses[200] >= 1, statuses
    for answer in answers:
        assert_conforms(spec, "/explain", answer)
        if answer.status_code == 200:
            assert len(answer.json()) == limit
    # /metrics counts what was answered, 429s included.
    for status in (200, 429):
        code = {"endpoint": "/explain", "http_response_code": str(status)}
        grown = _value(after, "bentoml_service_request_total", **code) - _value(
            before, "bentoml_service_request_total", **code
        )
        assert grown == statuses[status], (status, grown, statuses)


def test_the_cost_gate_refuses_what_would_not_end_within_its_budget() -> None:
    import threading

    release = threading.Event()

    async def scenario() -> list[Any]:
        gate = CostGate(budget_seconds=10, per_record=1.0, fallback_queue=1)
        first = asyncio.create_task(gate.run(4, lambda: release.wait(10)))
        await asyncio.sleep(0.05)  # the first call holds the gate
        second = asyncio.create_task(gate.run(5, lambda: "second"))  # 4 + 5 s queued
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFullError, match=r"about 11\.0 s"):
            await gate.run(2, lambda: "third")  # 4 + 5 + 2 s: over 10 s
        release.set()
        return [await first, await second]

    assert asyncio.run(scenario()) == [True, "second"]


def _series(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_unknown_paths_are_one_metrics_label(server: str) -> None:
    httpx.get(f"{server}/warm-up-unknown", timeout=10)
    before = _series(server)
    paths = [f"/{uuid.uuid4().hex}/{i}" for i in range(200)]
    with httpx.Client(base_url=server, timeout=10) as client:
        for i, path in enumerate(paths):
            assert client.request("GET" if i % 2 else "POST", path).status_code == 404
    after = _series(server)
    assert len(after) - len(before) <= 40, len(after) - len(before)
    text = httpx.get(f"{server}/metrics", timeout=30).text
    assert not any(path.split("/")[1] in text for path in paths)
    others = {
        labels: value
        for (name, labels), value in after.items()
        if name == "bentoml_service_request_total" and ("endpoint", "other") in labels
    }
    assert sum(others.values()) >= 201, others
    # Real routes keep their own label.
    assert any(
        ("endpoint", "/predict") in labels for (name, labels) in after if "request_total" in name
    )


def _value(series: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in series.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_count_records_predictions_and_refusals(
    server: str, sample: list[dict[str, Any]]
) -> None:
    before = _series(server)
    rows = sample[:37]
    predicted = httpx.post(f"{server}/predict", json={"records": rows}, timeout=30).json()
    httpx.post(f"{server}/predict_columns", json={"columns": as_columns(rows)}, timeout=30)
    httpx.post(f"{server}/explain", json={"records": rows[:5]}, timeout=30)
    refused = httpx.post(f"{server}/predict", content=b" " * 5_000_000, headers=JSON)
    assert refused.status_code == 413
    after = _series(server)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("mlap_records_scored_total", route="/predict") == 37
    assert grew("mlap_records_scored_total", route="/predict_columns") == 37
    assert grew("mlap_records_scored_total", route="/explain") == 5
    trues = sum(p["label"] for p in predicted)
    assert grew("mlap_predicted_labels_total", route="/predict", label="true") == trues
    assert grew("mlap_predicted_labels_total", route="/predict", label="false") == 37 - trues
    assert grew("mlap_predicted_probability_count", route="/predict") == 37
    assert grew("mlap_predicted_probability_sum", route="/predict") == pytest.approx(
        sum(p["probability"] for p in predicted)
    )
    code = {"endpoint": "/predict", "http_response_code": "413"}
    assert grew("bentoml_service_request_total", **code) == 1


STRICTLY_REFUSED = {
    "bool_for_int": ({"hour": True}, "hour", "valid integer"),
    "text_for_int": ({"hour": "17"}, "hour", "valid integer"),
    "float_for_int": ({"hour": 17.0}, "hour", "valid integer"),
    "year_1": ({"time_hour": "0001-01-01T00:00:00Z"}, "time_hour", "year 1 is out of range"),
    "year_9999": ({"time_hour": "9999-12-31T23:00:00Z"}, "time_hour", "out of range"),
    "before_the_schemas_years": (
        {"time_hour": "1999-06-01T12:00:00Z"},
        "time_hour",
        "year 1999 is out of range: expected 2000 to 2100 (the schema's 'year' column",
    ),
    "date_alone": ({"time_hour": "2013-03-18"}, "time_hour", "not a date alone"),
    "unix_time": ({"time_hour": 1363572000}, "time_hour", "not a number"),
}


@pytest.mark.parametrize("case", STRICTLY_REFUSED)
def test_numbers_booleans_and_datetimes_are_strict(
    case: str, server: str, sample: list[dict[str, Any]]
) -> None:
    change, field, fragment = STRICTLY_REFUSED[case]
    record = sample[0] | change
    for route, body, loc in (
        ("/predict", {"records": [record]}, ["records", 0, field]),
        ("/predict_columns", {"columns": as_columns([record])}, ["columns", field, 0]),
    ):
        answer = httpx.post(f"{server}{route}", json=body, timeout=30)
        assert answer.status_code == 400, (route, answer.text)
        (error,) = answer.json()["detail"]
        assert error["loc"] == loc and fragment in error["msg"], (route, error)


def test_valid_datetimes_in_other_spellings_still_score(
    server: str, sample: list[dict[str, Any]]
) -> None:
    spellings = ["2013-03-18T02:00:00Z", "2013-03-17T22:00:00-04:00", "2013-03-18 02:00"]
    new_york = {"year": 2013, "month": 3, "day": 17, "hour": 22}  # the parts of that instant
    rows = [sample[0] | new_york | {"time_hour": t} for t in spellings]
    answer = httpx.post(f"{server}/predict", json={"records": rows}, timeout=30)
    assert answer.status_code == 200, answer.text
    first, offset, _naive = (p["probability"] for p in answer.json())
    assert first == offset  # the same instant, written with another offset


def test_a_record_whose_parts_disagree_with_its_datetime_is_a_400_naming_both(
    server: str, sample: list[dict[str, Any]]
) -> None:
    """The schema relates time_hour to year/month/day/hour (New York's clock): a record
    that says otherwise is refused on both routes, with an answer the OpenAPI documents."""
    spec = published_spec(server)
    record = sample[0] | {"hour": (sample[0]["hour"] + 1) % 24}
    for route, body in (
        ("/predict", {"records": [sample[1], record]}),
        ("/predict_columns", {"columns": as_columns([sample[1], record])}),
    ):
        answer = httpx.post(f"{server}{route}", json=body, timeout=30)
        assert answer.status_code == 400, (route, answer.text)
        (error,) = answer.json()["detail"]
        assert "time_hour disagrees with hour (hour is" in error["msg"], (route, error)
        assert_conforms(spec, route, answer)
    (error,) = httpx.post(f"{server}/predict", json={"records": [record]}).json()["detail"]
    assert error["loc"][:2] == ["records", 0], error
    (error,) = httpx.post(
        f"{server}/predict_columns", json={"columns": as_columns([sample[1], record])}
    ).json()["detail"]
    assert error["msg"].startswith("Value error, row 1: "), error


def test_a_key_twice_in_one_object_is_a_400_naming_it(
    server: str, sample: list[dict[str, Any]]
) -> None:
    spec = published_spec(server)
    record = json.dumps(sample[0])
    twice = record[:-1] + ', "carrier": "UA"}'  # the record already has a carrier
    for body in (
        '{"records": [' + twice + "]}",
        '{"records": [' + record + '], "records": [' + record + "]}",
    ):
        answer = httpx.post(f"{server}/predict", content=body.encode(), headers=JSON)
        assert answer.status_code == 400, answer.text
        assert "duplicate key" in answer.json()["error"], answer.text
        assert_conforms(spec, "/predict", answer)
    assert (
        "'carrier'"
        in httpx.post(
            f"{server}/predict", content=('{"records": [' + twice + "]}").encode(), headers=JSON
        ).text
    )


def test_the_key_count_clears_only_bodies_without_repeats() -> None:
    """The middleware's fast check (bentos.strict_json.keys_all_distinct) may send a body
    without repeats to the slow check, never pass one with a repeat."""
    import pydantic_core

    from bentos.strict_json import keys_all_distinct

    def cleared(body: bytes) -> bool:
        return keys_all_distinct(body, pydantic_core.from_json(body))

    record = b'{"carrier": "UA", "dep": "2013-07-01T10:00:00Z", "n": [1, 2]}'
    assert cleared(b'{"records": [' + b", ".join([record] * 3) + b"]}")
    assert cleared(b'{"columns": {"a": [1, 2], "b": ["x", "y"]}}')
    assert cleared(b'{"records":[{"a":1},{"a":2}]}')
    for repeated in (
        b'{"records": [{"carrier": "ZZ", "carrier": "UA"}]}',
        b'{"records": [{"a": 1}], "records": [{"a": 1}]}',
        b'{"records": [{"a": 1, "b": {"c": 1, "c": 2}}]}',  # deeper than counted
        b'{"records": [{"a": 1, "a" : 2}]}',  # whitespace before the colon
        b'{"records": [{"a": 1, "a"\n:2}]}',
        b'{"records": [{"a": "x\\":", "a": 2}]}',  # an escaped quote and a colon in a value
        b'{"records": [{"car\\u0072ier": 1, "carrier": 2}]}',  # an escaped key
        b'[{"a": 1, "a": 2}, {"b": 1}]',
    ):
        assert not cleared(repeated), repeated
    assert not cleared(b'{"records": [{"a": "x\\":"}]}')  # a `":` in a value: slow check


def test_duplicate_keys_are_found_at_any_depth_and_other_bodies_are_left_alone() -> None:
    from bentos.strict_json import duplicate_key

    assert duplicate_key(b'{"a": [{"b": 1, "c": {"d": 1, "d": 2}}]}') == "d"
    assert duplicate_key(b'{"a": 1, "b": {"a": 1}}') is None  # same key, two objects
    assert duplicate_key(b'{"a": [') is None  # not JSON: BentoML's 400 says where
    assert duplicate_key(b"[" * 100_000) is None  # too deep for json: BentoML refuses it


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_published_schema(
    server: str, tmp_path: Path
) -> None:
    """The short run of the tiers (benchmarks/reliability/fuzz.py has the long one):
    coverage and fuzzing phases, 50 examples per operation, fixed seed."""
    from benchmarks.reliability.fuzz import CHECKS, run

    assert {"status_code_conformance", "response_schema_conformance"} <= set(CHECKS)
    result = run(server, max_examples=50, seed=19, workdir=tmp_path)
    assert result.exit_code == 0 and not result.failures, (result.failures, result.output)
    assert result.generated >= 400, result.generated  # 8 operations were exercised
    assert result.server_errors == 0


def test_the_dashboard_queries_what_the_served_champion_exports(
    server: str, sample: list[dict[str, Any]]
) -> None:
    """deploy/monitoring's dashboard against this real /metrics: BentoML's request series
    are as tests/test_deploy.py lists them, and every query's series and labels exist. A
    classifier never exports the regression-only `mlap_predicted_value` (BentoML's
    multiprocess metrics leave out families without samples): that query is checked
    against ScoringMetrics in tests/test_deploy.py only."""
    from tests.test_deploy import BENTOML_SERIES, dashboard_queries, unexported

    assert httpx.post(f"{server}/predict", json={"records": sample[:3]}, timeout=30).is_success
    text = httpx.get(f"{server}/metrics", timeout=30).text
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            series.setdefault(s.name, set()).update(s.labels)
    for name, labels in BENTOML_SERIES.items():
        assert labels <= series[name], name
    classifier_queries = [q for q in dashboard_queries() if "mlap_predicted_value" not in q[0]]
    assert unexported(classifier_queries, series) == []


def test_a_1000_record_batch_validated_as_columns_answers_as_the_record_model_path(
    served: dict[str, Any], server: str
) -> None:
    """/predict validates a valid batch as columns (bentos.records_input). A key beside
    `records` (ignored by BentoML's input model) makes the columnar check decline, so the
    same records then take the per-record pydantic path /predict always took: the two
    answers are the same bytes, for a valid batch and for one with a bad record at 700."""
    sent, wanted = first_thousand(served["state"])
    fast = httpx.post(f"{server}/predict", json={"records": sent}, timeout=60)
    slow = httpx.post(f"{server}/predict", json={"records": sent, "note": 1}, timeout=60)
    assert fast.status_code == slow.status_code == 200, (fast.text[:300], slow.text[:300])
    assert fast.content == slow.content
    got = [p["probability"] for p in fast.json()]
    assert max(abs(a - b) for a, b in zip(got, wanted["probability"], strict=True)) < 1e-6

    bad = [*sent[:700], sent[700] | {"distance": "far"}, *sent[701:]]
    fast = httpx.post(f"{server}/predict", json={"records": bad}, timeout=60)
    slow = httpx.post(f"{server}/predict", json={"records": bad, "note": 1}, timeout=60)
    assert fast.status_code == slow.status_code == 400, fast.text[:300]
    assert fast.json() == slow.json()
    (error,) = fast.json()["detail"]
    assert error["loc"] == ["records", 700, "distance"] and "integer" in error["msg"], error


def test_predict_documents_its_records_as_explain_does(server: str) -> None:
    """/predict's input model is BentoML's own with a columnar parse: /docs.json gives it
    the request body of /explain, which takes the same records through the unchanged
    model."""
    paths = published_spec(server)["paths"]
    assert paths["/predict"]["post"]["requestBody"] == paths["/explain"]["post"]["requestBody"]
    schema = paths["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["records"]["type"] == "array", schema


def test_hostile_bodies_are_4xx_and_leave_the_server_ready_with_its_memory(
    server: str, sample: list[dict[str, Any]]
) -> None:
    from benchmarks.reliability.hostile_bodies import hostile_bodies, send, server_rss_mib

    before = server_rss_mib(server)
    bodies = hostile_bodies(sample[0])
    answers = [send(server, body) for body in bodies]
    assert len(answers) == 10
    for answer in answers:
        assert 400 <= answer.status < 500, answer
    by_name = {a.name: a for a in answers}
    assert by_name["50 MB body"].status == 413
    # The gzip bomb is not inflated: its bytes are not JSON, and the answer says so.
    assert by_name["gzip bomb (50 MB inflated)"].status == 400
    assert httpx.get(f"{server}/readyz", timeout=10).status_code == 200
    # The "its memory returns": the server's RSS after the set is near before.
    assert server_rss_mib(server) - before < 40, (before, server_rss_mib(server))
    valid = httpx.post(f"{server}/predict", json={"records": sample[:2]}, timeout=30)
    assert valid.status_code == 200 and len(valid.json()) == 2


def test_a_refused_megabyte_key_is_quoted_by_its_start_and_length(
    server: str, server_log: Path, sample: list[dict[str, Any]]
) -> None:
    """BentoML's 400 named a refused field whole: a key of a million characters came back
    as a 1 MB answer and was written as a 1 MB log line (bentos.io_specs)."""
    key = "k" * 1_000_000
    record = {**sample[0], key: 1}
    bodies = [
        ("/predict", {"records": [record]}),
        # From COLUMNAR_MIN_ROWS records on, the columnar validator sees the body first.
        ("/predict", {"records": [*sample[:299], record]}),
        ("/explain", {"records": [record]}),
        ("/predict_columns", {"columns": {**as_columns(sample[:1]), key: [1]}}),
    ]
    for route, body in bodies:
        answer = httpx.post(f"{server}{route}", json=body, timeout=60)
        assert answer.status_code == 400, (route, answer.text[:300])
        assert len(answer.content) < 2_000, (route, len(answer.content))
        named = answer.json()["detail"][0]["loc"][-1]
        assert named == f"{'k' * 32}... (1,000,000 characters)", (route, named)
    # The refusals were logged (BentoML logs each), and none with the key whole.
    deadline = time.monotonic() + 10
    while (text := server_log.read_text()).count("(1,000,000 characters)") < len(bodies):
        assert time.monotonic() < deadline, "the refusals were not logged"
        time.sleep(0.1)
    assert "k" * 1_000 not in text

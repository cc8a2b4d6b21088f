"""Tier 5: the champion's BentoML service, called directly and over HTTP from real servers."""

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey

from tests.openapi_check import assert_conforms, published_spec
from tests.processes import wait_ready
from tests.served_champion import (
    DAYS,
    as_columns,
    bentoml_server,
    first_thousand,
    records,
)


def test_a_new_champion_builds_a_bento_and_a_kept_one_does_not(served: dict[str, Any]) -> None:
    assert served["first"]["rebuilt"] is True
    assert str(served["first"]["bento_tag"]).startswith(f"flight_delays:v{served['champion']}-")
    assert served["again"]["rebuilt"] is False
    assert served["again"]["bento_tag"] == served["first"]["bento_tag"]
    dockerfile = Path(str(served["first"]["dockerfile"]))
    assert dockerfile.is_file() and "FROM" in dockerfile.read_text()


def test_service_class_called_directly(served: dict[str, Any]) -> None:
    import bentoml

    # Loading the built bento restores its own argument (the model it serves).
    bentoml.load(str(served["first"]["bento_path"]), reload=True)
    module = sys.modules["bentos.service"]
    assert served["first"]["bento_tag"] == module.MODEL_TAG
    service = module.ChampionService.inner()
    assert service.__is_ready__()
    sample, _ = records(served["state"], DAYS[0])
    predictions = asyncio.run(service.predict([module.Record(**r) for r in sample[:5]]))
    assert len(predictions) == 5
    assert all(0 < p.probability < 1 for p in predictions), predictions
    assert {p.model_version for p in predictions} == {served["champion"]}
    by_columns = service.predict_columns(module.Columns(**as_columns(sample[:5])))
    assert by_columns.probability == [p.probability for p in predictions]
    assert by_columns.label == [p.label for p in predictions]
    assert by_columns.model_version == served["champion"]
    explained = asyncio.run(service.explain([module.Record(**sample[0])]))
    contributions = explained[0].contributions
    assert len(contributions) == 5 and any(abs(c.contribution) > 0 for c in contributions)
    assert service.metadata()["version"] == served["champion"]


def test_http_predictions_equal_batch_predictions(served: dict[str, Any], server: str) -> None:
    sent, wanted = first_thousand(served["state"])
    response = httpx.post(f"{server}/predict", json={"records": sent}, timeout=60)
    assert response.status_code == 200, response.text
    got = pd.DataFrame(response.json())
    assert len(got) == 1000
    assert np.abs(got["probability"].to_numpy() - wanted["probability"].to_numpy()).max() < 1e-6
    assert (got["label"].to_numpy() == wanted["label"].to_numpy()).all()
    assert set(got["model_version"]) == {served["champion"]}


BAD_INPUTS = {
    "wrong_type": ({"distance": "far"}, "distance"),
    "missing_field": ({"carrier": None}, "carrier"),
    "unknown_category": ({"origin": "XXX"}, "origin"),
    "out_of_range": ({"hour": 31}, "hour"),
    "extra_field": ({"dep_delay": 12.0}, "dep_delay"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_record_is_a_400_naming_the_field(
    case: str, served: dict[str, Any], server: str
) -> None:
    change, field = BAD_INPUTS[case]
    record = records(served["state"], DAYS[0])[0][0] | change
    if case == "missing_field":
        record.pop("carrier")
    response = httpx.post(f"{server}/predict", json={"records": [record]}, timeout=30)
    assert response.status_code == 400, response.text
    assert field in response.text


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        ('{"records": []}', "application/json", "at least 1 item"),
        (None, "application/json", "at most 1000 items"),
        ('{"records": [', "application/json", "json"),
        ("records=1", "text/plain", "application/json"),
        ("records=1", "multipart/form-data", "application/json"),
        ('{"rows": []}', "application/json", "records"),
    ],
    ids=[
        "empty_list",
        "too_many",
        "malformed_json",
        "wrong_content_type",
        "multipart",
        "wrong_key",
    ],
)
def test_malformed_requests_are_4xx(
    body: str | None, content_type: str, fragment: str, served: dict[str, Any], server: str
) -> None:
    if body is None:
        record = records(served["state"], DAYS[0])[0][0]
        body = json.dumps({"records": [record] * 1001})
    response = httpx.post(
        f"{server}/predict", content=body, headers={"content-type": content_type}, timeout=30
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert fragment.lower() in response.text.lower()


def test_columnar_predictions_equal_record_and_batch_predictions(
    served: dict[str, Any], server: str
) -> None:
    sent, wanted = first_thousand(served["state"])
    response = httpx.post(
        f"{server}/predict_columns", json={"columns": as_columns(sent)}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    got = response.json()
    assert set(got) == {"probability", "label", "model_version", "arm", "challenger_version"}
    assert set(got["arm"]) == {"champion"} and got["challenger_version"] is None
    assert got["model_version"] == served["champion"]
    probability, label = np.asarray(got["probability"]), np.asarray(got["label"])
    assert len(probability) == len(label) == 1000
    by_records = pd.DataFrame(
        httpx.post(f"{server}/predict", json={"records": sent}, timeout=60).json()
    )
    assert np.abs(probability - by_records["probability"].to_numpy()).max() <= 1e-9
    assert (label == by_records["label"].to_numpy()).all()
    assert np.abs(probability - wanted["probability"].to_numpy()).max() <= 1e-9
    assert (label == wanted["label"].to_numpy()).all()


def test_a_nullable_column_left_out_is_all_null(served: dict[str, Any], server: str) -> None:
    rows = [r | {"tailnum": None} for r in records(served["state"], DAYS[0])[0][:20]]
    columns = {k: v for k, v in as_columns(rows).items() if k != "tailnum"}
    got = httpx.post(f"{server}/predict_columns", json={"columns": columns}, timeout=30)
    assert got.status_code == 200, got.text
    expected = httpx.post(f"{server}/predict", json={"records": rows}, timeout=30).json()
    assert got.json()["probability"] == [p["probability"] for p in expected]


def _set(column: str, row: int, value: Any) -> Any:
    def change(columns: dict[str, list[Any]]) -> None:
        columns[column][row] = value

    return change


BAD_COLUMNS: dict[str, tuple[Any, list[Any], str]] = {
    # case: (change to three rows' columns, the error's loc, a fragment of the message)
    "wrong_type": (_set("distance", 1, "far"), ["columns", "distance", 1], "valid integer"),
    "null_in_required": (_set("carrier", 2, None), ["columns", "carrier", 2], "carrier"),
    "unknown_category": (_set("origin", 0, "XXX"), ["columns", "origin", 0], "'EWR'"),
    "out_of_range": (_set("hour", 1, 31), ["columns", "hour", 1], "less than or equal to 23"),
    "bad_pattern": (_set("tailnum", 2, "X1"), ["columns", "tailnum", 2], "pattern"),
    "missing_column": (lambda c: c.pop("carrier"), ["columns", "carrier"], "Field required"),
    "unknown_column": (
        lambda c: c.update(dep_delay=[1.0, 2.0, 3.0]),
        ["columns", "dep_delay"],
        "Extra inputs are not permitted",
    ),
    "not_a_list": (lambda c: c.update(distance=187), ["columns", "distance"], "valid array"),
    "unequal_lengths": (
        lambda c: c["distance"].pop(),
        ["columns"],
        "'distance' has 2, the others 3",
    ),
    "empty_lists": (
        lambda c: [values.clear() for values in c.values()],
        ["columns", "year"],
        "at least 1 item",
    ),
    "too_many_rows": (
        lambda c: [values.extend(values * 333) for values in c.values()],
        ["columns", "year"],
        "at most 1000 items",
    ),
}


@pytest.mark.parametrize("case", BAD_COLUMNS)
def test_bad_columns_are_a_400_naming_the_column_and_row(
    case: str, served: dict[str, Any], server: str
) -> None:
    change, loc, fragment = BAD_COLUMNS[case]
    columns = as_columns(records(served["state"], DAYS[0])[0][:3])
    change(columns)
    response = httpx.post(f"{server}/predict_columns", json={"columns": columns}, timeout=30)
    assert response.status_code == 400, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]], response.text
    assert fragment in response.text


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        ('{"columns": {', "application/json", 400, "json"),
        ('{"columns": [1, 2]}', "application/json", 400, "should be an object"),
        ('{"rows": {}}', "application/json", 400, "columns"),
        ('{"columns": {}}', "text/plain", 415, "application/json"),
        ("columns=1", "application/x-www-form-urlencoded", 415, "application/json"),
        # BentoML's form parser raises on multipart without a boundary (a 500 on /predict).
        ("columns=1", "multipart/form-data", 415, "application/json"),
    ],
    ids=["malformed_json", "not_an_object", "wrong_key", "text", "form", "multipart"],
)
def test_malformed_columnar_requests_are_4xx(
    body: str, content_type: str, status: int, fragment: str, server: str
) -> None:
    response = httpx.post(
        f"{server}/predict_columns",
        content=body,
        headers={"content-type": content_type},
        timeout=30,
    )
    assert response.status_code == status, (response.status_code, response.text)
    assert fragment.lower() in response.text.lower()


def test_probes_docs_and_metrics_are_open_and_the_api_key_guards_scoring(
    served: dict[str, Any], tmp_path: Path
) -> None:
    record = records(served["state"], DAYS[0])[0][0]
    log = tmp_path / "key.log"
    with bentoml_server(str(served["first"]["bento_tag"]), log, MLAP_API_KEY="s3cret") as url:
        wait_ready(url, log, time.monotonic() + 60)
        for path in ("/livez", "/readyz", "/metrics", "/docs.json", "/"):
            assert httpx.get(f"{url}{path}", timeout=10).status_code == 200, path
        spec = httpx.get(f"{url}/docs.json", timeout=10).json()
        assert "FlightsRecord" in json.dumps(spec) and "Scheduled departure hour" in json.dumps(
            spec
        )
        assert "FlightsColumns" in json.dumps(spec) and "/predict_columns" in spec["paths"]
        denied = httpx.post(f"{url}/predict", json={"records": [record]}, timeout=30)
        assert denied.status_code == 401 and "X-API-Key" in denied.text
        assert_conforms(spec, "/predict", denied)
        columns = {"columns": as_columns([record])}
        denied = httpx.post(f"{url}/predict_columns", json=columns, timeout=30)
        assert denied.status_code == 401 and "X-API-Key" in denied.text
        allowed = httpx.post(
            f"{url}/predict_columns", json=columns, headers={"x-api-key": "s3cret"}, timeout=30
        )
        assert allowed.status_code == 200 and len(allowed.json()["probability"]) == 1
        wrong = httpx.post(f"{url}/metadata", headers={"x-api-key": "nope"}, timeout=30)
        assert wrong.status_code == 401
        # A non-ASCII key is just a wrong key (it was a TypeError, 30 s then a 500).
        accented = httpx.post(f"{url}/metadata", headers={"x-api-key": b"s3cr\xe9t"}, timeout=30)
        assert accented.status_code == 401 and "invalid X-API-Key" in accented.text
        # Two keys, one right: refused, not "the last one decides".
        two = [("x-api-key", "nope"), ("x-api-key", "s3cret")]
        doubled = httpx.post(f"{url}/metadata", headers=two, timeout=30)
        assert doubled.status_code == 401 and "more than one X-API-Key" in doubled.text
        allowed = httpx.post(
            f"{url}/predict",
            json={"records": [record]},
            headers={"x-api-key": "s3cret"},
            timeout=30,
        )
        assert allowed.status_code == 200
        metadata = httpx.post(f"{url}/metadata", headers={"x-api-key": "s3cret"}, timeout=30).json()
        assert metadata["version"] == served["champion"] and "roc_auc" in metadata["test_metrics"]
        assert "time_hour" in metadata["schema"]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    # The key is the server's environment only: not in what it answers or logs.
    assert "s3cret" not in json.dumps(metadata) + json.dumps(spec) + metrics
    assert "s3cret" not in log.read_text()


def test_a_tampered_model_keeps_the_service_unready(served: dict[str, Any], tmp_path: Path) -> None:
    import bentoml

    source = bentoml.models.get(str(served["first"]["bento_tag"]))
    with bentoml.models.create("flight_delays_tampered") as model:
        shutil.copytree(source.path, model.path, dirs_exist_ok=True)
        target = Path(model.path) / "model" / "model.ubj"
        data = bytearray(target.read_bytes())
        data[-1] ^= 1
        target.write_bytes(bytes(data))
    log = tmp_path / "tampered.log"
    with bentoml_server(
        "bentos.service:ChampionService", log, ("--arg", f"model={model.tag}")
    ) as url:
        time.sleep(3)
        assert httpx.get(f"{url}/livez", timeout=10).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=10).status_code != 200
        record = records(served["state"], DAYS[0])[0][0]
        refused = httpx.post(f"{url}/predict", json={"records": [record]}, timeout=30)
        assert refused.status_code == 503
        assert_conforms(published_spec(url), "/predict", refused)
    assert "champion not loaded" in log.read_text() and "model.ubj" in log.read_text()


def test_batch_predictions_asset(served: dict[str, Any]) -> None:
    state = served["state"]
    for day in DAYS:
        batch = pd.read_parquet(
            state / "lake" / "flight_delays" / "batch_predictions" / f"{day}.parquet"
        )
        features = pd.read_parquet(state / "lake" / "flight_delays" / "features" / f"{day}.parquet")
        assert len(batch) == len(features)
        assert {"probability", "label", "model_version", "actual", "flight", "event_date"} <= set(
            batch.columns
        )
        assert batch["probability"].between(0, 1).all()
        # Labelled at the champion's own threshold, chosen on validation and stored with it.
        threshold = served["threshold"]
        assert 0 < threshold < 1 and threshold != 0.5
        assert (batch["label"] == (batch["probability"] >= threshold)).all()
        assert set(batch["model_version"]) == {served["champion"]}
    assert AssetKey(["flight_delays", "batch_predictions"])  # key used by monitoring later


def test_indexed_serving_joins_equal_the_training_feature_code(served: dict[str, Any]) -> None:
    import bentoml

    from ml_assets.lib.features import build_features
    from ml_assets.lib.scoring import Scorer

    scorer = Scorer.from_bundle(Path(bentoml.models.get(str(served["first"]["bento_tag"])).path))
    sent: list[dict[str, Any]] = []
    for day in DAYS:
        sent += records(served["state"], day)[0]
    sent[0] = sent[0] | {"tailnum": None}  # no plane to join
    sent[1] = sent[1] | {"tailnum": "N99999", "dest": "ZZZ"}  # keys the references lack
    events = scorer.events_frame(sent)
    expected = build_features(events, scorer.references, scorer.config, with_target=False)
    pd.testing.assert_frame_equal(scorer.features(events), expected)
    assert pd.isna(expected.loc[1, "plane_seats"]) and pd.isna(expected.loc[1, "dest_lat"])


def test_requests_that_arrive_while_scoring_are_merged_and_answered_alone() -> None:
    import threading

    from bentos.merging import RequestMerger

    calls: list[list[int]] = []
    running = threading.Lock()

    def score(items: list[int]) -> list[int]:
        assert running.acquire(blocking=False), "two scoring calls at once"
        try:
            calls.append(items)
            if -1 in items:
                raise ValueError("bad item")
            time.sleep(0.05)
            return [10 * i for i in items]
        finally:
            running.release()

    async def send() -> list[Any]:
        merger = RequestMerger(score, max_items=5)
        first = asyncio.create_task(merger([1]))
        await asyncio.sleep(0.01)  # the first call is running: the next ones queue
        rest = [merger(batch) for batch in ([2, 3], [4], [-1], [5, 6], [7])]
        return [await first, *await asyncio.gather(*rest, return_exceptions=True)]

    answers = asyncio.run(send())
    assert answers[0] == [10] and answers[1:3] == [[20, 30], [40]]
    assert isinstance(answers[3], ValueError)  # only the request with the bad item fails
    assert answers[4:] == [[50, 60], [70]]
    # [1] alone, then up to 5 queued items per call; the failed call is retried per request.
    assert calls[0] == [1] and calls[1] == [2, 3, 4, -1]
    assert calls[2:6] == [[2, 3], [4], [-1], [5, 6, 7]]


def test_a_request_alone_is_scored_inline_and_concurrent_ones_still_merge() -> None:
    import threading

    from bentos.merging import InFlight, RequestMerger

    threads: list[list[int]] = []
    loop_thread = threading.get_ident()
    in_flight = InFlight()

    def score(items: list[int]) -> list[int]:
        threads.append([threading.get_ident() == loop_thread, len(items)])
        time.sleep(0.02)
        return [10 * i for i in items]

    async def request(merger: RequestMerger[int, int], items: list[int]) -> list[int]:
        in_flight.count += 1  # what InFlightMiddleware counts around a request
        try:
            return await merger(items)
        finally:
            in_flight.count -= 1

    async def send() -> list[Any]:
        merger = RequestMerger(score, max_items=10, alone=in_flight.alone)
        alone = await request(merger, [1])
        # Three requests that start in the same loop turn: each sees the others in flight,
        # so none is scored inline and all three go together into one threaded call.
        together = await asyncio.gather(*(request(merger, [i]) for i in (2, 3, 4)))
        return [alone, *together]

    assert asyncio.run(send()) == [[10], [20], [30], [40]]
    assert threads == [[True, 1], [False, 3]]
    assert in_flight.count == 0


def test_columns_model_validates_each_value_as_the_record_model_does(flight_config) -> None:  # type: ignore[no-untyped-def]
    from ml_assets.lib.request_model import columns_model, record_model

    record = record_model(flight_config).model_json_schema()
    columns = columns_model(flight_config).model_json_schema()
    assert columns["additionalProperties"] is False
    assert set(columns["properties"]) == set(record["properties"])
    assert set(columns["required"]) == set(record["required"])
    for name, field in record["properties"].items():
        column = columns["properties"][name]
        values = column if name in record["required"] else column["anyOf"][0]
        assert values["items"] == {
            k: v for k, v in field.items() if k not in {"title", "description", "default"}
        }, name
        assert (values["minItems"], values["maxItems"]) == (
            1,
            flight_config.serving.max_batch_size,
        )
        assert column["description"].endswith(
            "one value per row." if name in record["required"] else "is null."
        )


def test_columns_model_rows(flight_config) -> None:  # type: ignore[no-untyped-def]
    from pydantic import ValidationError, create_model

    from ml_assets.lib.request_model import EventColumns, columns_model, row_count

    serving = flight_config.serving.model_copy(update={"max_batch_size": 3})
    model = columns_model(flight_config.model_copy(update={"serving": serving}))
    row = {
        "year": 2013,
        "month": 7,
        "day": 1,
        "sched_dep_time": 1959,
        "sched_arr_time": 2359,
        "carrier": "B6",
        "flight": 101,
        "origin": "JFK",
        "dest": "BOS",
        "distance": 187,
        "hour": 19,
        "minute": 59,
        "time_hour": "2013-07-01T23:00:00Z",
    }
    three = model.model_validate(as_columns([row] * 3))
    assert row_count(three) == 3 and vars(three)["tailnum"] is None  # left out: all null
    with pytest.raises(ValidationError, match="at most 3 items"):
        model.model_validate(as_columns([row] * 4))
    uneven = as_columns([row] * 3) | {"distance": [187, 187], "hour": [19]}
    with pytest.raises(ValidationError, match="'distance' has 2, 'hour' has 1, the others 3"):
        model.model_validate(uneven)
    optional = create_model("Optional", __base__=EventColumns, a=(list[int | None] | None, None))
    with pytest.raises(ValidationError, match="no columns given"):
        optional.model_validate({})


@pytest.mark.parametrize(
    "changes",
    [
        [{}, {"n": None, "x": None, "ok": None, "s": None, "c": None, "t": None}],
        [{"s": ""}, {"x": float("inf")}],
        [{}, {"n": 2**60}],  # not validated: the generic path
        [{"t": "2013-07-01T03:30:00Z"}, {}],  # raw JSON text: the generic path
    ],
    ids=["values-and-nulls", "edge-values", "big-int", "raw-text"],
)
def test_columns_are_typed_as_the_same_records_are(changes: list[dict[str, Any]]) -> None:
    from ml_assets.lib.typed_events import typed_columns, typed_events
    from tests.test_scoring_fast_path import COLUMNS, GOOD

    rows = [GOOD | change for change in changes]
    pd.testing.assert_frame_equal(
        typed_columns(as_columns(rows), COLUMNS), typed_events(rows, COLUMNS)
    )


def test_a_column_left_out_or_none_is_all_missing_and_lengths_must_match() -> None:
    from ml_assets.lib.typed_events import typed_columns, typed_events
    from tests.test_scoring_fast_path import COLUMNS, GOOD

    rows = [GOOD | {"x": None}, GOOD | {"x": None}]
    expected = typed_events(rows, COLUMNS)
    without_x = {k: v for k, v in as_columns(rows).items() if k != "x"}
    pd.testing.assert_frame_equal(typed_columns(without_x, COLUMNS), expected)
    pd.testing.assert_frame_equal(typed_columns(without_x | {"x": None}, COLUMNS), expected)
    with pytest.raises(ValueError, match="one length"):
        typed_columns(without_x | {"n": [1]}, COLUMNS)

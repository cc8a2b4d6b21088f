"""Tier 1: /predict's columnar validation accepts exactly what the record model accepts.

`RecordColumnsValidator` either accepts a body or declines it; `records_input_spec` then
lets BentoML's own input model parse it. Checked against that input model (what /predict
parsed before: BentoML's JSON serde, `model_validate_json` of the body) for every
pipeline of the repository, on valid batches and on batches with edge values put in:
whatever the model accepts the route accepts with the same records and the same typed
events (a valid batch through the columns), and whatever it refuses the route refuses
with the same errors.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import bentoml
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError
from starlette.requests import Request

from bentos.records_input import records_input_spec
from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.record_columns import RecordBatch, RecordColumnsValidator
from ml_assets.lib.request_model import record_model
from ml_assets.lib.scoring import serving_columns
from ml_assets.lib.typed_events import typed_events
from tests.records import batch_strategy
from tests.test_service_contract import PIPELINE_FILES

CONFIGS = {path.stem: load_pipeline_config(path) for path in PIPELINE_FILES}
# Values a client may send in any field: each is valid for some column types and a
# mistake for others (bool vs int vs float, NaN, huge ints, times in other spellings).
EDGE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    7,
    2**53 + 1,
    2**63,
    10**30,
    -(10**400),  # beyond float64: the columnar check refuses it in Python mode (declines)
    1.0,
    0.5,
    -2.5,
    1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "17",
    "ZZ",
    "UA",
    "EWR",
    "é\u0000",
    "2013-07-04T21:00:00Z",
    "2013-07-04T21:00:00+05:30",
    "2013-07-04 21:00",
    "2013-07-04T21:00:00.123456-0400",
    "2013-07-04T21:00:00z",
    "2013-07-04",
    "1899-12-31T23:59:59Z",
    "2013-02-30T00:00:00Z",
    "1372971600",
    [],
    {},
    [1],
]


class Route:
    """/predict's input as the service builds it, and the model BentoML makes alone."""

    def __init__(self, config: PipelineConfig) -> None:
        records_type = Annotated[
            list[record_model(config)],  # type: ignore[misc]
            Field(min_length=1, max_length=config.serving.max_batch_size),
        ]

        async def predict(self: Any, records: Any) -> None:
            """The route's signature."""

        # Evaluated annotations (this module's are strings): BentoML reads them.
        predict.__annotations__ = {"self": Any, "records": records_type, "return": None}

        self.config = config
        self.func = predict
        self.validator = RecordColumnsValidator(config)
        self.spec = records_input_spec(predict, self.validator)
        self.plain = self.spec.__mro__[1]  # BentoML's own model for the signature

    def parse(self, body: bytes) -> Any:
        """What the route's input spec gives for `body` (as BentoML calls it)."""
        return _parsed(self.spec, body)

    def parse_before(self, body: bytes) -> Any:
        """What BentoML's own input model gives for `body`: /predict before."""
        return _parsed(self.plain, body)


class JsonSerde:
    """BentoML 1.4.39's JSON serde as it parses a request (`_bentoml_impl.serde.JSONSerde`,
    internal: tests/test_imports.py keeps its imports in two adapters): an empty body is
    `{}`. The served tests (tests/test_serving_hardening.py) go through the real one."""

    media_type = "application/json"

    async def parse_request(self, request: Request, cls: Any) -> Any:
        return cls.model_validate_json(await request.body() or b"{}")


def _parsed(spec: Any, body: bytes) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    return asyncio.run(spec.from_http_request(request, JsonSerde()))


ROUTES = {name: Route(config) for name, config in CONFIGS.items()}


def _outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(body).records
    except ValidationError as exc:
        return "refused", exc.errors(include_url=False)


def _assert_same(route: Route, body: bytes) -> RecordBatch | None:
    """The route and BentoML's own model agree on `body`; the fast path's batch, if any."""
    before, expected = _outcome(route.parse_before, body)
    now, got = _outcome(route.parse, body)
    assert now == before, (now, before, body[:300])
    if now == "refused":
        assert _same_errors(got, expected), (got, expected)
        assert route.validator.validate_json(body) is None
        return None
    rows = [vars(record) for record in expected]
    assert [vars(record) for record in got] == rows
    for mine, theirs in zip(got, expected, strict=True):  # the same types (and zones)
        for name, value in vars(theirs).items():
            assert type(vars(mine)[name]) is type(value), name
            if isinstance(value, datetime):
                assert vars(mine)[name].utcoffset() == value.utcoffset(), name
    if isinstance(got, RecordBatch):
        columns = serving_columns(route.config)
        pd.testing.assert_frame_equal(got.events, typed_events(rows, columns), check_exact=True)
        return got
    return None


def _same_errors(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    # NaN never equals itself: compare the errors' text.
    return repr(got) == repr(expected)


def _dumps(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


@st.composite
def _edited(draw: st.DrawFn, config: PipelineConfig) -> list[dict[str, Any]]:
    """A valid batch with 0-3 edits: a field set to an edge value or another record's
    value, a field left out, an unknown key added."""
    batch = draw(batch_strategy(config, max_size=4))
    names = list(serving_columns(config))
    for _ in range(draw(st.integers(0, 3))):
        record = batch[draw(st.integers(0, len(batch) - 1))]
        name = draw(st.sampled_from([*names, "unknown_key"]))
        edit = draw(st.sampled_from(["edge", "drop", "swap"]))
        if edit == "drop":
            record.pop(name, None)
        elif edit == "swap":
            other = draw(st.sampled_from(names))
            record[name] = draw(batch_strategy(config, max_size=1))[0][other]
        else:
            record[name] = draw(st.sampled_from(EDGE_VALUES))
    return batch


@pytest.mark.parametrize("pipeline", sorted(ROUTES))
def test_valid_batches_are_validated_as_columns_with_the_same_records_and_events(
    pipeline: str,
) -> None:
    route = ROUTES[pipeline]

    @settings(max_examples=40, deadline=None, database=None)
    @given(batch=batch_strategy(route.config, max_size=6))
    def check(batch: list[dict[str, Any]]) -> None:
        assert _assert_same(route, _dumps({"records": batch})) is not None

    check()


@pytest.mark.parametrize("pipeline", sorted(ROUTES))
def test_edited_batches_get_what_the_record_model_gives(pipeline: str) -> None:
    route = ROUTES[pipeline]

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(batch=_edited(route.config))
    def check(batch: list[dict[str, Any]]) -> None:
        _assert_same(route, _dumps({"records": batch}))

    check()


FLIGHT = ROUTES["flight_delays"]
VALID = {
    "year": 2013,
    "month": 7,
    "day": 4,
    "sched_dep_time": 2100,
    "sched_arr_time": 2330,
    "carrier": "UA",
    "flight": 101,
    "tailnum": "N12345",
    "origin": "EWR",
    "dest": "ORD",
    "distance": 719,
    "hour": 21,
    "minute": 0,
    "time_hour": "2013-07-05T01:00:00Z",
}

_WITHOUT_TAILNUM = {k: v for k, v in VALID.items() if k != "tailnum"}
NEW_YEAR_2000 = {"year": 2000, "month": 1, "day": 1, "hour": 0}
LAST_HOUR_2100 = {"year": 2100, "month": 12, "day": 31, "hour": 23}


@pytest.mark.parametrize(
    ("body", "fast"),
    [
        ({"records": [VALID]}, True),
        ({"records": [VALID | {"time_hour": "2013-07-04T21:00:00-04:00"}]}, True),
        ({"records": [VALID | {"time_hour": "2013-07-05 01:00"}]}, True),  # naive: UTC
        ({"records": [VALID | {"tailnum": None}]}, True),
        ({"records": [{k: v for k, v in VALID.items() if k != "tailnum"}]}, True),
        ({"records": [VALID] * 1000}, True),
        ({"records": [VALID] * 1001}, False),
        ({"records": []}, False),
        ({"records": [VALID], "extra": 1}, False),
        ({"rows": [VALID]}, False),
        ([VALID], False),
        ({"records": [VALID | {"hour": 22}]}, False),  # disagrees with time_hour
        ({"records": [VALID | {"distance": 719.0}]}, False),
        ({"records": [VALID | {"distance": True}]}, False),
        ({"records": [VALID | {"distance": float("nan")}]}, False),
        ({"records": [VALID | {"distance": 10**30}]}, False),
        ({"records": [VALID | {"carrier": None}]}, False),
        ({"records": [VALID | {"carrier": "ZZ"}]}, False),
        ({"records": [VALID | {"dep_delay": 3}]}, False),
        ({"records": [VALID | {"time_hour": 1372971600}]}, False),
        ({"records": [VALID | {"time_hour": "2013-07-05"}]}, False),
        ({"records": [VALID | {"time_hour": "1899-07-05T01:00:00Z"}]}, False),
        # The schema's years (2000-2100) are read in the parts' zone (New York), per value
        # by the record model and on the typed column by the columnar check.
        ({"records": [VALID | NEW_YEAR_2000 | {"time_hour": "2000-01-01T05:00:00Z"}]}, True),
        ({"records": [VALID | NEW_YEAR_2000 | {"time_hour": "2000-01-01T04:59:59Z"}]}, False),
        ({"records": [VALID | LAST_HOUR_2100 | {"time_hour": "2101-01-01T04:59:59Z"}]}, True),
        ({"records": [VALID, VALID | {"time_hour": "2101-01-01T05:00:00Z"}]}, False),
        ({"records": [VALID, VALID | {"time_hour": "2101-01-01T00:30:00+19:00"}]}, False),
        ({"records": [VALID, "not a record"]}, False),
        # Every field in every record takes the transposition without a loop per record;
        # a record with as many keys, one of them unknown, must not.
        ({"records": [VALID, _WITHOUT_TAILNUM]}, True),
        ({"records": [VALID, _WITHOUT_TAILNUM | {"dep_delay": 3}]}, False),
    ],
)
def test_edge_cases_get_what_the_record_model_gives(body: Any, fast: bool) -> None:
    batch = _assert_same(FLIGHT, _dumps(body))
    assert (batch is not None) == fast


def test_a_bad_record_deep_in_a_batch_is_refused_by_the_record_model_naming_it() -> None:
    body = {"records": [VALID] * 1000}
    body["records"] = [*body["records"][:700], VALID | {"distance": "far"}, *body["records"][701:]]
    with pytest.raises(ValidationError) as refused:
        FLIGHT.parse(_dumps(body))
    (error,) = refused.value.errors()
    assert error["loc"] == ("records", 700, "distance")


def test_a_json_body_that_is_not_json_gets_the_model_s_error() -> None:
    for body in (b'{"records": [', b"", b'{"records": [1,]}', b'{"records": "\\ud800"}'):
        _assert_same(FLIGHT, body)


def test_the_input_model_documents_the_route_as_bentoml_does() -> None:
    for route in ROUTES.values():
        assert route.spec.__name__ == route.plain.__name__ == "Input"
        mine = bentoml.api(input_spec=route.spec)(route.func)
        theirs = bentoml.api(route.func)
        assert mine.openapi_request() == theirs.openapi_request()
        for mode in ("validation", "serialization"):
            assert route.spec.model_json_schema(mode=mode) == theirs.input_spec.model_json_schema(
                mode=mode
            )


def test_a_record_batch_reads_as_its_records() -> None:
    batch = FLIGHT.validator.validate_json(_dumps({"records": [VALID, VALID | {"flight": 7}]}))
    assert batch is not None and len(batch) == 2
    assert vars(batch[1])["flight"] == 7 and vars(batch[-1])["flight"] == 7
    assert [vars(r)["flight"] for r in batch[0:2]] == [101, 7]
    assert vars(batch[0])["time_hour"] == datetime(2013, 7, 5, 1, tzinfo=UTC)
    with pytest.raises(IndexError):
        batch[2]

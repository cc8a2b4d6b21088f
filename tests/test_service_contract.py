"""Tier 5: what the served champion answers, for every pipeline in the repository.

Bentos are built once for the module, one per pipeline YAML of configs/pipelines (bases
named "_..." aside) and of configs/examples, and one for the machine pipeline of
tests/test_second_pipeline.py, each around a small real model, and served by real
`bentoml serve` processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from resources.bento_store import BentoStoreResource
from tests.conftest import PROJECT_ROOT
from tests.processes import free_port, running, wait_ready
from tests.records import batch_strategy
from tests.test_bento_store import make_bundle, served
from tests.test_mpls_stops import mpls_data  # noqa: F401  (module fixture)
from tests.test_multiclass_flow import pizza_data  # noqa: F401  (module fixture)
from tests.test_regression_flow import vic_data  # noqa: F401  (module fixture)
from tests.test_second_pipeline import MACHINES_YAML, write_machine_data

# A text pipeline is served by bentos/text_service.py, not the champion service whose
# contract this is: tests/test_text_flow.py serves it.
PIPELINE_FILES = sorted(
    p
    for folder in ("pipelines", "examples")
    for p in (PROJECT_ROOT / "configs" / folder).glob("*.yaml")
    if not p.name.startswith("_")
    and load_pipeline_config(p).target.problem_type != "text_classification"
)
SCORING_ROUTES = ("/predict", "/predict_columns", "/explain")


def _configs(folder: Path) -> dict[str, PipelineConfig]:
    configs = {p.stem: load_pipeline_config(p) for p in PIPELINE_FILES}
    folder.mkdir(parents=True)
    machines = folder / "machine_failures.yaml"
    machines.write_text(MACHINES_YAML)
    write_machine_data(folder)
    configs["machine_failures"] = load_pipeline_config(machines)
    return configs


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory,
    mpls_data: Path,  # noqa: F811  (configs/examples reads the exported CSV files)
    vic_data: Path,  # noqa: F811
    pizza_data: Path,  # noqa: F811
) -> Iterator[dict[str, Any]]:
    """Each pipeline's bento, built from one store and served; name -> config, url, tag."""
    folder = tmp_path_factory.mktemp("contract")
    store = BentoStoreResource(home=str(folder / "bentoml"))
    pipelines: dict[str, Any] = {}
    for name, config in _configs(folder / "machines").items():
        bundle = make_bundle(config, 2, "1", folder / name)
        tag = f"{name}:v1-{bundle['manifest'][:8]}"
        store.import_bundle(tag, folder / name / "bundle", {"pipeline": name})
        bento = store.build(tag, tag.split(":")[1], {"pipeline": name}, f"`{name}` v1")
        pipelines[name] = {"config": config, "bento": bento, "records": bundle["records"]}
    with ExitStack() as stack:
        for name, pipeline in pipelines.items():
            log = folder / name / "serve.log"
            pipeline["log"] = log
            pipeline["url"] = stack.enter_context(served(store, pipeline["bento"], log))
        for pipeline in pipelines.values():
            wait_ready(pipeline["url"], pipeline["log"], deadline=_deadline())
        yield {"store": store, "folder": folder, "pipelines": pipelines}


def _deadline() -> float:
    import time

    return time.monotonic() + 120


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [r[name] for r in records] for name in records[0]}


def _all_routes(url: str, records: list[dict[str, Any]]) -> dict[str, httpx.Response]:
    return {
        "/predict": httpx.post(f"{url}/predict", json={"records": records}, timeout=30),
        "/predict_columns": httpx.post(
            f"{url}/predict_columns", json={"columns": _columns(records)}, timeout=30
        ),
        "/explain": httpx.post(f"{url}/explain", json={"records": records}, timeout=30),
    }


def _check_scored(answers: dict[str, httpx.Response], rows: int) -> None:
    """Every route answers 200 with one finite prediction per row, the same on each route,
    in the shape of the pipeline's problem type."""
    for route, answer in answers.items():
        assert answer.status_code == 200, (route, answer.status_code, answer.text)
    by_records = answers["/predict"].json()
    columns = answers["/predict_columns"].json()
    explained = answers["/explain"].json()
    assert len(by_records) == len(explained) == rows
    if "prediction" in by_records[0]:  # regression: a value and its interval
        values = [p["prediction"] for p in by_records]
        assert columns["prediction"] == values
        for p in [*by_records, *explained]:
            assert math.isfinite(p["prediction"]) and p["lower"] <= p["prediction"] <= p["upper"]
        return
    probabilities = [p["probability"] for p in by_records]
    assert columns["probability"] == probabilities
    for p in [*probabilities, *(e["probability"] for e in explained)]:
        assert math.isfinite(p) and 0.0 <= p <= 1.0, p
    if "probabilities" in by_records[0]:  # multiclass: the chosen class is the most probable
        for p in by_records:
            assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
            assert p["probability"] == max(p["probabilities"].values())
            assert p["probabilities"][p["label"]] == p["probability"]


@pytest.mark.parametrize("pipeline", [*(p.stem for p in PIPELINE_FILES), "machine_failures"])
def test_every_valid_batch_is_scored_on_every_route(pipeline: str, store: dict[str, Any]) -> None:
    served_pipeline = store["pipelines"][pipeline]
    url = served_pipeline["url"]

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(batch=batch_strategy(served_pipeline["config"], max_size=5))
    def scored(batch: list[dict[str, Any]]) -> None:
        _check_scored(_all_routes(url, batch), len(batch))

    scored()
    assert "error_id=" not in served_pipeline["log"].read_text()


@pytest.mark.parametrize("pipeline", [*(p.stem for p in PIPELINE_FILES), "machine_failures"])
def test_serving_features_equal_the_training_feature_code(
    pipeline: str, store: dict[str, Any]
) -> None:
    """Every declared op (calendar parts, holidays, joins by index lookup...) gives the
    served model what training gave it, for any valid batch."""
    from ml_assets.lib.features import build_features
    from ml_assets.lib.scoring import Scorer

    scorer = Scorer.from_bundle(store["folder"] / pipeline / "bundle")

    @settings(max_examples=25, deadline=None, database=None)
    @given(batch=batch_strategy(store["pipelines"][pipeline]["config"], max_size=5))
    def same(batch: list[dict[str, Any]]) -> None:
        events = scorer.events_frame(batch)
        expected = build_features(events, scorer.references, scorer.config, with_target=False)
        pd.testing.assert_frame_equal(scorer.features(events), expected)

    same()


def test_the_record_strategy_gives_what_the_request_model_accepts() -> None:
    from ml_assets.lib.request_model import record_model

    for path in PIPELINE_FILES:
        config = load_pipeline_config(path)
        _check_valid(record_model(config), config)


def _check_valid(model: Any, config: PipelineConfig) -> None:
    @settings(max_examples=50, deadline=None, database=None)
    @given(batch=batch_strategy(config, max_size=3))
    def valid(batch: list[dict[str, Any]]) -> None:
        for record in batch:
            model.model_validate(record)

    valid()


# The error contract. No healthy bundle here fails on a record its schema admits (the
# property test above looks for one), so the failures come from real bundle defects: the
# machines reference table with `installed_year` stored as text, unparsable for one
# machine ("partly broken": a record of that machine cannot be scored, the rest can) or
# for every machine ("broken": not even the bundle's own example record scores).
BAD_MACHINE = "M003"


def _broken_bundle(source: Path, target: Path, unparsable: set[str]) -> Path:
    import shutil

    import pandas as pd

    shutil.copytree(source, target)
    table = target / "references" / "machines.parquet"
    machines = pd.read_parquet(table)
    machines["installed_year"] = [
        "unknown" if m in unparsable else str(y)
        for m, y in zip(machines["machine_id"], machines["installed_year"], strict=True)
    ]
    machines.to_parquet(table, index=False)
    return target


@contextmanager
def _serve_model(store: BentoStoreResource, model_tag: str, log: Path) -> Iterator[str]:
    """`bentoml serve` of the service module (no bento build) for a stored model."""
    port = free_port()
    argv, env = store.serve_command("bentos.service:ChampionService", "127.0.0.1", port)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    with running([*argv, "--arg", f"model={model_tag}"], env, PROJECT_ROOT, log):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def broken(store: dict[str, Any]) -> Iterator[dict[str, Any]]:
    folder: Path = store["folder"]
    source = folder / "machine_failures" / "bundle"
    machines = set(pd.read_parquet(source / "references" / "machines.parquet")["machine_id"])
    bundles = {
        "partly": _broken_bundle(source, folder / "partly", {BAD_MACHINE}),
        "fully": _broken_bundle(source, folder / "fully", machines),
    }
    with ExitStack() as stack:
        servers: dict[str, Any] = {}
        for name, bundle in bundles.items():
            tag = f"machine_failures_{name}:v1"
            store["store"].import_bundle(tag, bundle, {"pipeline": "machine_failures"})
            log = folder / f"{name}.log"
            servers[name] = {
                "bundle": bundle,
                "log": log,
                "url": stack.enter_context(_serve_model(store["store"], tag, log)),
            }
        for server in servers.values():
            wait_ready(server["url"], server["log"], deadline=_deadline())
        yield servers


def _machine_record(machine: str) -> dict[str, Any]:
    return {
        "machine_id": machine,
        "read_at": "2024-05-02T10:00:00Z",
        "temperature_c": 71.5,
        "vibration": 1.2,
    }


def _scorer_and_example(bundle: Path) -> tuple[Any, Any]:
    from ml_assets.lib.request_model import record_model
    from ml_assets.lib.scoring import Scorer

    scorer = Scorer.from_bundle(bundle)
    example = json.loads((bundle / "metadata.json").read_text())["example_record"]
    return scorer, vars(record_model(scorer.config).model_validate(example))


def _rows(scorer: Any, records: list[dict[str, Any]]) -> list[Any]:
    from ml_assets.lib.request_model import record_model

    model = record_model(scorer.config)
    return [vars(model.model_validate(r)) for r in records]


def _in_records(row: int | None, field: str | None) -> list[str | int]:
    return ["records", *([] if row is None else [row]), *([] if field is None else [field])]


def test_a_record_that_cannot_be_scored_is_blamed_directly(
    broken: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from bentos.errors import CONTENT_ERROR, blame, failure_response

    scorer, example = _scorer_and_example(broken["partly"]["bundle"])

    def score(rows: Any) -> object:
        return scorer.score(scorer.events_frame(rows))

    records = [_machine_record(m) for m in ("M001", "M002", BAD_MACHINE, "M004", "M005")]
    rows = _rows(scorer, records)
    with pytest.raises(ValueError, match="unknown"):
        score(rows)
    found = blame(score, rows, example)
    assert found is not None and (found.row, found.field) == (2, "machine_id")
    assert found.reason.startswith("ValueError:") and "unknown" in found.reason
    assert blame(score, rows, None) is None  # no example to tell by: the service's fault
    response = failure_response("/predict", ValueError("x"), rows, score, example, _in_records)
    assert response.status_code == 400
    body = json.loads(bytes(response.body))
    assert body["error"] == CONTENT_ERROR
    assert body["detail"] == [
        {"type": "unscorable", "loc": ["records", 2, "machine_id"], "msg": found.reason}
    ]
    assert not any(r.exc_info for r in caplog.records)  # a client error: no traceback


def test_a_failing_service_is_a_500_with_an_error_id_logged_once_directly(
    broken: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from bentos.errors import INTERNAL_ERROR, blame, failure_response

    scorer, example = _scorer_and_example(broken["fully"]["bundle"])

    def score(rows: Any) -> object:
        return scorer.score(scorer.events_frame(rows))

    rows = _rows(scorer, [_machine_record("M002")])
    try:
        score(rows)
    except ValueError as exc:
        failure = exc
    assert blame(score, rows, example) is None  # the example fails too
    with caplog.at_level(logging.ERROR, logger="bentoml.service.champion"):
        response = failure_response("/predict", failure, rows, score, example, _in_records)
    assert response.status_code == 500
    body = json.loads(bytes(response.body))
    assert body == {"error": INTERNAL_ERROR, "error_id": body["error_id"]}
    (logged,) = [r for r in caplog.records if r.exc_info]
    assert f"error_id={body['error_id']}" in logged.getMessage()
    assert logged.exc_info is not None and logged.exc_info[1] is failure


def test_over_http_a_record_that_cannot_be_scored_is_a_400_naming_row_and_field(
    broken: dict[str, Any],
) -> None:
    url = broken["partly"]["url"]
    good, bad = _machine_record("M001"), _machine_record(BAD_MACHINE)
    assert _all_routes(url, [good])["/predict"].status_code == 200
    answers = _all_routes(url, [good, good, bad])
    locs = {
        "/predict": ["records", 2, "machine_id"],
        "/explain": ["records", 2, "machine_id"],
        "/predict_columns": ["columns", "machine_id", 2],
    }
    for route, answer in answers.items():
        assert answer.status_code == 400, (route, answer.text)
        body = answer.json()
        assert body["error"] == "the request cannot be scored"
        (detail,) = body["detail"]
        assert detail["type"] == "unscorable" and detail["loc"] == locs[route], body
        assert "unknown" in detail["msg"]
    log = broken["partly"]["log"].read_text()
    assert "Traceback" not in log and "error_id=" not in log


def test_over_http_merged_requests_fail_alone(broken: dict[str, Any]) -> None:
    url = broken["partly"]["url"]
    bodies = [
        {"records": [_machine_record(BAD_MACHINE if i % 4 == 1 else "M002")] * 50}
        for i in range(12)
    ]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.post(f"{url}/predict", json=b) for b in bodies))

    answers = asyncio.run(send_all())
    for i, answer in enumerate(answers):
        if i % 4 == 1:
            assert answer.status_code == 400, answer.text
            assert answer.json()["detail"][0]["loc"] == ["records", 0, "machine_id"]
        else:
            assert answer.status_code == 200, answer.text
            assert len(answer.json()) == 50


def test_over_http_a_failing_service_is_a_500_with_an_error_id(broken: dict[str, Any]) -> None:
    server = broken["fully"]
    answers = _all_routes(server["url"], [_machine_record("M002")])
    log = server["log"].read_text()
    ids = []
    for route, answer in answers.items():
        assert answer.status_code == 500, (route, answer.text)
        body = answer.json()
        assert set(body) == {"error", "error_id"} and "error_id" in body["error"]
        assert log.count(f"error_id={body['error_id']}") == 1, log[-3000:]
        ids.append(body["error_id"])
    assert len(set(ids)) == 3
    # One traceback per failed request, ours; BentoML's handler never saw an exception.
    assert log.count("Traceback (most recent call last)") == 3, log[-3000:]
    assert "Exception on /" not in log
    # Each 500 is counted in /metrics under its route.
    metrics = httpx.get(f"{server['url']}/metrics", timeout=10).text
    for route in answers:
        counted = [
            line
            for line in metrics.splitlines()
            if line.startswith("bentoml_service_request_total{")
            and f'endpoint="{route}"' in line
            and 'http_response_code="500"' in line
        ]
        assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1, (route, counted)
    # A machine whose row is not in the reference table joins nothing and still scores.
    assert _all_routes(server["url"], [_machine_record("M999")])["/predict"].status_code == 200


def test_docs_declare_every_status_with_its_real_body(store: dict[str, Any]) -> None:
    from bentos.openapi import ERROR_RESPONSES

    url = store["pipelines"]["machine_failures"]["url"]
    spec = httpx.get(f"{url}/docs.json", timeout=10).json()
    for route in SCORING_ROUTES:
        responses = spec["paths"][route]["post"]["responses"]
        assert set(responses) == {"200", "400", "401", "413", "415", "429", "500", "503", "504"}
        for status, (_, schema) in ERROR_RESPONSES.items():
            assert responses[str(status)]["content"]["application/json"]["schema"] == schema
    assert set(spec["paths"]["/metadata"]["post"]["responses"]) == {
        "200",
        "400",
        "401",
        "413",
        "415",
        "429",
        "500",
        "504",
    }
    # The declared bodies are the real ones.
    refused = httpx.post(f"{url}/predict", json={"records": [{"machine_id": "X"}]}, timeout=10)
    malformed = httpx.post(
        f"{url}/predict", content=b'{"records": [', headers={"content-type": JSON}, timeout=10
    )
    for answer in (refused, malformed):
        assert answer.status_code == 400
        _conforms(answer.json(), ERROR_RESPONSES[400][1])
    media = httpx.post(f"{url}/predict", content=b"x", headers={"content-type": "text/plain"})
    assert media.status_code == 415
    _conforms(media.json(), ERROR_RESPONSES[415][1])


JSON = "application/json"


def _conforms(body: Any, schema: dict[str, Any]) -> None:
    """The checks of the declared schemas that matter here: required keys and types."""
    assert isinstance(body, dict), body
    assert set(schema["required"]) <= set(body), body
    for key, value in body.items():
        declared = schema["properties"][key]
        if declared["type"] == "string":
            assert isinstance(value, str)
        else:
            assert isinstance(value, list)
            if "properties" in declared["items"]:
                for item in value:
                    _conforms(item, declared["items"])

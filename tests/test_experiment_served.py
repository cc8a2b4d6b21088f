"""Tier 5: the champion against a challenger. Shadow through the service class called
directly (every record also scored by the challenger and logged under the same request,
the champion's answer returned); A/B through one real `bentoml serve` over HTTP (stable
arms by entity, the share within tolerance over 2000 requests, each answer saying who
answered, the OpenAPI kept, every request in the inference log under its arm). Then a
served model that fails every score: its 500s counted and recorded beside the log, where
the rollback's error-rate trigger fires on them."""

import asyncio
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import CandidateConfig
from ml_assets.lib.experiment import challenger_rows, salt_of
from ml_assets.lib.experiment_record import ExperimentRecord
from ml_assets.lib.inference_log import log_days, read_day
from ml_assets.lifecycle.experiments import experiment_traffic, start_experiment, stop_experiment
from ml_assets.lifecycle.packaging import package_model
from resources.lake import LakeResource
from tests.openapi_check import assert_conforms, published_spec
from tests.processes import wait_ready
from tests.served_champion import DAYS, as_columns, bentoml_server, records
from tests.test_model_lifecycle import Lifecycle

# Clearly weaker than the champion (60 trees of depth 4): kept as challenger, and its
# answers differ from the champion's on every record.
WEAK = {"xgboost": CandidateConfig(params={"n_estimators": 5, "max_depth": 1})}
KEY = ["time_hour", "carrier", "flight", "origin", "sched_dep_time"]
SHARE = 0.3
SINGLES = 300


@pytest.fixture(scope="module")
def challenger(served: dict[str, Any], flight_config: PipelineConfig) -> dict[str, Any]:
    """A second model in the served champion's registry, packaged as a BentoML model."""
    life: Lifecycle = served["lifecycle"]
    assert life.train(WEAK).success
    version = life.alias("challenger")
    assert version is not None and version != served["champion"]
    assert life.alias("champion") == served["champion"]
    resources = life.defs(flight_config).resources or {}
    tag = package_model(
        resources["model_registry"],
        resources["bento_store"],
        resources["lake"],
        flight_config,
        life.model(version),
    )
    scorer = resources["bento_store"].scorer(tag)
    return {"version": version, "tag": tag, "scorer": scorer}


def _scorer_of(served: dict[str, Any]) -> Any:
    import os

    from resources.bento_store import BentoStoreResource

    store = BentoStoreResource(home=os.environ["BENTOML_HOME"])
    return store.scorer(str(served["first"]["bento_tag"]))


@pytest.fixture
def shadow_service(
    served: dict[str, Any],
    challenger: dict[str, Any],
    flight_config: PipelineConfig,
    tmp_path: Path,
    monkeypatch: Any,
) -> Iterator[tuple[Any, Any, ExperimentRecord]]:
    """The bento `mlap experiment start --mode shadow` builds, loaded in this process (its
    arguments restored from the bento, as `bentoml serve <tag>` does), logging to a lake
    of its own (the shared one's log days belong to tests/test_inference_log_served.py)."""
    import bentoml

    resources = served["lifecycle"].defs(flight_config).resources or {}
    record = start_experiment(
        resources["model_registry"],
        resources["bento_store"],
        resources["lake"],
        flight_config,
        mode="shadow",
        version=challenger["version"],
    )
    with pytest.raises(ValueError, match="already runs an experiment"):
        start_experiment(
            resources["model_registry"], resources["bento_store"], resources["lake"], flight_config
        )
    monkeypatch.setenv("MLAP_INFERENCE_LOG_URL", str(tmp_path / "lake"))
    try:
        bentoml.load(str(bentoml.bentos.get(record.bento_tag).path), reload=True)
        module = sys.modules["bentos.service"]
        yield module, module.ChampionService.inner(), record
    finally:
        stop_experiment(resources["lake"], "flight_delays", "the test ended")


def test_shadow_logs_both_and_answers_with_the_champion(
    served: dict[str, Any], challenger: dict[str, Any], shadow_service: Any, tmp_path: Path
) -> None:
    module, service, record = shadow_service
    assert (record.mode, record.champion_version) == ("shadow", served["champion"])
    assert record.challenger_tag == challenger["tag"]
    sample, _ = records(served["state"], DAYS[0])
    assert service.metadata()["experiment"] == {
        "mode": "shadow",
        "challenger_version": challenger["version"],
        "challenger_tag": challenger["tag"],
    }
    answered = asyncio.run(service.predict([module.Record(**r) for r in sample[:40]]))
    by_columns = service.predict_columns(module.Columns(**as_columns(sample[40:60])))
    service.flush_inference_log()  # the shutdown hook: the shadow queue, then the log

    champion = _scorer_of(served)
    sent = pd.DataFrame(sample[:60]).assign(time_hour=lambda f: pd.to_datetime(f["time_hour"]))
    rows = sent.to_dict("records")
    ours = champion.score(champion.events_frame(rows))["probability"].to_numpy()
    theirs = challenger["scorer"].score(challenger["scorer"].events_frame(rows))
    theirs = theirs["probability"].to_numpy()
    assert np.abs(ours - theirs).max() > 0.01  # the two models really differ
    # The caller gets the champion's answers only.
    assert {(p.arm, p.model_version) for p in answered} == {("champion", served["champion"])}
    assert np.allclose([p.probability for p in answered], ours[:40])
    assert np.allclose(by_columns.probability, ours[40:])
    assert set(by_columns.arm) == {"champion"} and by_columns.challenger_version is None

    (day,) = log_days(str(tmp_path / "lake"), "flight_delays")
    log, _ = read_day(str(tmp_path / "lake"), "flight_delays", day)
    assert log.groupby("arm").size().to_dict() == {"champion": 60, "shadow": 60}
    shadow = log[log["arm"] == "shadow"].sort_values(["route", "record"])
    main = log[log["arm"] == "champion"].sort_values(["route", "record"])
    # Paired by request and position: the same records, each model's own output.
    assert list(shadow["request_id"]) == list(main["request_id"])
    assert list(shadow["input_flight"]) == list(main["input_flight"])
    assert set(shadow["model_version"]) == {challenger["version"]}
    assert set(shadow["model_tag"]) == {challenger["tag"]}
    order = {"/predict": 0, "/predict_columns": 40}
    where = [order[r] + i for r, i in zip(shadow["route"], shadow["record"], strict=True)]
    assert np.allclose(shadow["output_probability"], theirs[where])
    assert np.allclose(main["output_probability"], ours[where])
    # What `mlap experiment status` prints: per arm, from the log, since the start.
    counts = experiment_traffic(LakeResource(base_path=str(tmp_path / "lake")), record)
    assert counts[["arm", "model_version", "records", "requests"]].values.tolist() == [
        ["champion", served["champion"], 60, 2],
        ["shadow", challenger["version"], 60, 2],
    ]


def test_ab_splits_by_entity_over_http(
    served: dict[str, Any], challenger: dict[str, Any], tmp_path: Path
) -> None:
    state: Path = served["state"]
    sent: list[dict[str, Any]] = []
    for day in ("2013-03-16", *DAYS):
        sent += records(state, day)[0]
    sent = sent[:2000]
    assert len(sent) == 2000
    lake = tmp_path / "lake"
    log = tmp_path / "ab.log"
    arguments = (
        *("--arg", f"model={served['first']['bento_tag']}"),
        *("--arg", f"challenger={challenger['tag']}"),
        *("--arg", "experiment=ab", "--arg", f"share={SHARE}"),
    )
    with bentoml_server(
        "bentos.service:ChampionService", log, arguments, MLAP_INFERENCE_LOG_URL=str(lake)
    ) as url:
        wait_ready(url, log, time.monotonic() + 60)
        spec = published_spec(url)
        with httpx.Client(base_url=url, timeout=60) as client:
            # 2000 entities in requests of 100 (the share is per entity, not per request;
            # 2000 one-record requests would add ~20 s to the suite for the same check).
            answered = []
            for first in range(0, len(sent), 100):
                answer = client.post("/predict", json={"records": sent[first : first + 100]})
                assert answer.status_code == 200, answer.text
                answered += answer.json()
            assert_conforms(spec, "/predict", answer)
            singles = []
            for record in sent[:SINGLES]:
                single = client.post("/predict", json={"records": [record]})
                singles += single.json()
            assert_conforms(spec, "/predict", single)
            columns = client.post("/predict_columns", json={"columns": as_columns(sent[:300])})
            assert_conforms(spec, "/predict_columns", columns)
            metadata = client.post("/metadata").json()
    assert metadata["experiment"]["share"] == SHARE

    arms = [s["arm"] for s in answered]
    share = arms.count("challenger") / len(arms)
    assert abs(share - SHARE) < 4 * (SHARE * (1 - SHARE) / len(arms)) ** 0.5, share
    # The same entity gets the same arm in a batch, alone and as columns ...
    assert [p["arm"] for p in singles] == arms[:SINGLES]
    assert columns.json()["arm"] == arms[:300]
    assert columns.json()["challenger_version"] == challenger["version"]
    # ... the one the documented hash gives it, computed in this process.
    typed = [{**r, "time_hour": datetime.fromisoformat(r["time_hour"])} for r in sent]
    expected = challenger_rows(typed, KEY, SHARE, salt_of("flight_delays", challenger["version"]))
    assert arms == ["challenger" if c else "champion" for c in expected]
    # Each answer is its arm's model's own.
    versions = {"champion": served["champion"], "challenger": challenger["version"]}
    assert all(s["model_version"] == versions[s["arm"]] for s in answered)
    frame = pd.DataFrame(typed)
    for arm, scorer in (("champion", _scorer_of(served)), ("challenger", challenger["scorer"])):
        mask = np.array(arms) == arm
        rows = frame[mask].to_dict("records")
        wanted = scorer.score(scorer.events_frame(rows))["probability"].to_numpy()
        got = np.array([s["probability"] for s in answered])[mask]
        assert np.abs(got - wanted).max() < 1e-6

    # Every record in the log under the arm that answered it, at its place in its request.
    logged = pd.concat(
        [
            read_day(str(lake), "flight_delays", day)[0]
            for day in log_days(str(lake), "flight_delays")
        ]
    )
    assert len(logged) == 2000 + SINGLES + 300
    counts = logged.groupby("arm").size().to_dict()
    assert counts["challenger"] == sum(arms[:n].count("challenger") for n in (2000, SINGLES, 300))
    assert set(logged.loc[logged["arm"] == "challenger", "model_tag"]) == {challenger["tag"]}
    in_batch = logged[
        logged["request_id"]
        == logged.loc[logged["route"] == "/predict_columns", "request_id"].iloc[0]
    ]
    in_batch = in_batch.sort_values("record")
    assert list(in_batch["record"]) == list(range(300))
    assert list(in_batch["arm"]) == arms[:300]
    assert list(in_batch["input_flight"]) == [r["flight"] for r in sent[:300]]


@pytest.fixture(scope="module")
def broken_challenger(
    served: dict[str, Any], challenger: dict[str, Any], tmp_path_factory: Any
) -> str:
    """The challenger's version with an artifact that breaks at predict: its feature spec
    names a feature the pipeline never makes. The files are saved again, so the hashes
    verify and the service loads it; every score raises (KeyError naming the feature)."""
    import os

    from benchmarks.reliability.broken_bundle import import_broken_copy
    from resources.bento_store import BentoStoreResource

    store = BentoStoreResource(home=os.environ["BENTOML_HOME"])
    scratch = tmp_path_factory.mktemp("broken") / "bundle"
    tag = f"flight_delays:v{challenger['version']}-broken"
    import_broken_copy(store, challenger["tag"], tag, scratch, "flight_delays")
    with pytest.raises(KeyError, match="no_such_feature"):
        scorer = store.scorer(tag)
        (row, *_) = records(served["state"], DAYS[0])[0]
        scorer.score(scorer.events_frame([{**row, "time_hour": pd.Timestamp(row["time_hour"])}]))
    return tag


def test_ab_falls_back_to_the_champion_when_the_challenger_fails(
    served: dict[str, Any], challenger: dict[str, Any], broken_challenger: str, tmp_path: Path
) -> None:
    sent = records(served["state"], DAYS[0])[0][:300]
    lake, log = tmp_path / "lake", tmp_path / "fallback.log"
    arguments = (
        *("--arg", f"model={served['first']['bento_tag']}"),
        *("--arg", f"challenger={broken_challenger}"),
        *("--arg", "experiment=ab", "--arg", "share=0.5"),
    )
    with bentoml_server(
        "bentos.service:ChampionService", log, arguments, MLAP_INFERENCE_LOG_URL=str(lake)
    ) as url:
        wait_ready(url, log, time.monotonic() + 60)
        with httpx.Client(base_url=url, timeout=60) as client:
            answered = []
            for first in (0, 100):
                answer = client.post("/predict", json={"records": sent[first : first + 100]})
                assert answer.status_code == 200, answer.text
                answered += answer.json()
            columns = client.post("/predict_columns", json={"columns": as_columns(sent[200:])})
            assert columns.status_code == 200, columns.text
            metrics = client.get("/metrics").text
    typed = [{**r, "time_hour": datetime.fromisoformat(r["time_hour"])} for r in sent]
    chosen = challenger_rows(typed, KEY, 0.5, salt_of("flight_delays", challenger["version"]))
    assert 50 < sum(chosen) < 250  # the challenger had rows of every request to fail on
    # Every row answered by the champion, with the champion's own probabilities.
    assert {(p["arm"], p["model_version"]) for p in answered} == {("champion", served["champion"])}
    assert set(columns.json()["arm"]) == {"champion"}
    assert columns.json()["challenger_version"] is None
    champion = _scorer_of(served)
    wanted = champion.score(champion.events_frame(typed))["probability"].to_numpy()
    got = [p["probability"] for p in answered] + columns.json()["probability"]
    assert np.abs(np.array(got) - wanted).max() < 1e-6
    # Counted per route in /metrics, and logged with the reason.
    for route, rows in (("/predict", chosen[:200]), ("/predict_columns", chosen[200:])):
        line = f'mlap_ab_fallback_records_total{{route="{route}"}} {float(sum(rows))}'
        assert line in metrics, [m for m in metrics.splitlines() if "fallback" in m]
    server_log = log.read_text()
    assert "A/B: challenger" in server_log and "no_such_feature" in server_log
    # The inference log holds every record under the champion.
    logged = pd.concat(
        [read_day(str(lake), "flight_delays", d)[0] for d in log_days(str(lake), "flight_delays")]
    )
    assert len(logged) == 300 and set(logged["arm"]) == {"champion"}


def test_a_champion_that_fails_every_request_is_logged_and_its_error_rate_fires(
    challenger: dict[str, Any], broken_challenger: str, served: dict[str, Any], tmp_path: Path
) -> None:
    from ml_assets.lib.config.rollback import RollbackConfig
    from ml_assets.lib.inference_errors import error_days, read_errors
    from ml_assets.lib.rollback_triggers import fired, served_version

    sent = records(served["state"], DAYS[0])[0][:20]
    lake, log = tmp_path / "lake", tmp_path / "broken.log"
    arguments = ("--arg", f"model={broken_challenger}")
    with bentoml_server(
        "bentos.service:ChampionService", log, arguments, MLAP_INFERENCE_LOG_URL=str(lake)
    ) as url:
        wait_ready(url, log, time.monotonic() + 60)
        with httpx.Client(base_url=url, timeout=60) as client:
            answers = [
                client.post("/predict", json={"records": sent[first : first + 2]})
                for first in range(0, 20, 2)
            ]
            answers.append(client.post("/predict_columns", json={"columns": as_columns(sent)}))
            metrics = client.get("/metrics").text
    assert [a.status_code for a in answers] == [500] * 11, answers[0].text
    # Counted per route and version, and written (on shutdown) beside the inference log.
    version = challenger["version"]
    for route, count in (("/predict", 10.0), ("/predict_columns", 1.0)):
        line = f'mlap_failed_requests_total{{model_version="{version}",route="{route}"}} {count}'
        assert line in metrics, [m for m in metrics.splitlines() if "failed_requests" in m]
    assert log_days(str(lake), "flight_delays") == {}  # nothing was scored
    days = sorted(error_days(str(lake), "flight_delays"))
    assert days == [DAYS[0]]
    errors = read_errors(str(lake), "flight_delays", days)
    assert len(errors) == 11 and set(errors["status"]) == {500}
    assert set(errors["model_version"]) == {version} and set(errors["arm"]) == {"champion"}
    assert set(errors["error_id"]) == {a.json()["error_id"] for a in answers}
    assert sorted(errors["rows"]) == [2] * 10 + [20]
    # What the rollback sensor reads fires the error-rate trigger on that version.
    scored, _ = read_day(str(lake), "flight_delays", days[0])
    assert served_version(scored, errors) == version
    policy = RollbackConfig(enabled=True, max_error_rate=0.5, min_requests=10)
    (trigger,) = fired(policy, version, scored, None, {}, days, errors)
    assert trigger.describe().startswith("error_rate 1 > 0.5 (11 of 11 requests failed")

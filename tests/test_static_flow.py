"""A table without event time end to end, from its YAML alone (configs/examples/breast_cancer.yaml).

The Wisconsin Diagnostic Breast Cancer table as scikit-learn ships it (569 rows, no header,
no dates): ingest as unpartitioned assets -> a seeded, stratified split -> train
(logistic regression and XGBoost) -> champion -> a real `bentoml serve` answering
`/predict` and `/explain`; no daily job, sensor or monitoring asset in its graph.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.config.models import CandidateConfig, TuningConfig
from ml_assets.lib.static_split import SplitError, window_from_column, window_of_rows
from ml_assets.lifecycle.lineage import WHOLE_TABLE
from ml_assets.lifecycle.passport import build_passport
from tests.flows import PROJECT_ROOT, champion, records, serving, trained

YAML = PROJECT_ROOT / "configs" / "examples" / "breast_cancer.yaml"
PIPELINE = "breast_cancer"


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    written = load_pipeline_config(YAML)
    assert written.training is not None
    training = written.training.model_copy(
        update={
            "tuning": TuningConfig(n_trials=2, timeout_seconds=60, pruning_warmup_steps=2),
            "candidates": {
                "logistic_regression": CandidateConfig(),
                "xgboost": CandidateConfig(params={"n_estimators": 60, "max_depth": 3}),
            },
        }
    )
    return written.model_copy(update={"training": training})


@pytest.fixture(scope="module")
def flow(config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with trained(config, None, tmp_path_factory.mktemp("static")) as run:
        yield run


def test_the_graph_has_no_days(flow: Any) -> None:
    defs = flow["defs"]
    graph = defs.resolve_asset_graph()
    assert all(graph.get(key).partitions_def is None for key in graph.get_all_asset_keys())
    jobs = {job.name for job in defs.jobs or []}
    assert jobs == {f"{PIPELINE}__{j}" for j in ("ingest", "train", "rollback", "promote")}
    # Only the shared alert sensors: no arrival or retrain sensor of the pipeline.
    assert not [s.name for s in defs.sensors or [] if s.name.startswith(PIPELINE)]


def test_the_split_is_stratified_and_the_champion_beats_the_baselines(flow: Any) -> None:
    lake = flow["defs"].resources["lake"]
    training_set = lake.read([PIPELINE, "training_set"])
    assert len(training_set) == 569 and "event_date" not in training_set.columns
    shares = training_set.groupby("window")["malignant"].mean()
    # 212 of 569 are malignant (37%): every window keeps that share within a row or two.
    assert shares.between(0.35, 0.39).all(), shares
    sizes = training_set["window"].value_counts()
    assert sizes["test"] == pytest.approx(0.2 * 569, abs=1) and sizes["train"] > 330
    model = champion(flow)
    assert model is not None and model.metric == "roc_auc" and model.validation_score > 0.95
    evaluation = lake.read([PIPELINE, "evaluation"]).set_index("model")
    assert evaluation.iloc[0]["roc_auc"] > 0.95
    assert evaluation.loc["majority baseline", "roc_auc"] == pytest.approx(0.5)


def test_the_passport_traces_the_whole_table(flow: Any) -> None:
    registry = flow["defs"].resources["model_registry"]
    passport = build_passport(flow["instance"], registry, flow["config"], champion(flow))
    assert passport["missing"] == []
    (entry,) = passport["lineage"]["partitions"].values()
    assert list(passport["lineage"]["partitions"]) == [WHOLE_TABLE]
    assert entry["features"]["data_version"] and entry["raw"]["data_version"]


@pytest.fixture(scope="module")
def server(flow: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(flow, tmp_path_factory.mktemp("static-serve") / "serve.log") as url:
        yield url


def test_the_service_scores_rows_of_the_table(flow: Any, server: str) -> None:
    sent = records(flow, None, 20)
    assert "diagnosis" not in sent[0] and len(sent[0]) == 30
    answered = httpx.post(f"{server}/predict", json={"records": sent}, timeout=60)
    assert answered.status_code == 200, answered.text
    truth = pd.Series([r["diagnosis"] == 0 for r in records_with_label(flow, 20)])
    labels = pd.Series([a["label"] for a in answered.json()])
    assert all(0 <= a["probability"] <= 1 for a in answered.json())
    assert (labels == truth).mean() >= 0.8  # rows the model has seen: nearly all right
    explained = httpx.post(f"{server}/explain", json={"records": sent[:2]}, timeout=60)
    assert explained.status_code == 200 and explained.json()[0]["contributions"]
    schema = httpx.get(f"{server}/docs.json", timeout=30).json()
    assert "mean_radius" in str(schema) and "event_date" not in str(schema)


def records_with_label(flow: Any, rows: int) -> list[dict[str, Any]]:
    validated = flow["state"] / "lake" / PIPELINE / "validated_aspirates.parquet"
    frame: list[dict[str, Any]] = pd.read_parquet(validated).head(rows).to_dict("records")
    return frame


def test_the_seeded_split_repeats_and_keeps_class_shares() -> None:
    labels = pd.Series([True] * 30 + [False] * 70)
    first = window_of_rows(labels, 0.2, 0.2, seed=3, stratify=True)
    assert first.equals(window_of_rows(labels, 0.2, 0.2, seed=3, stratify=True))
    assert not first.equals(window_of_rows(labels, 0.2, 0.2, seed=4, stratify=True))
    for window, count in {"train": 60, "validation": 20, "test": 20}.items():
        assert (first == window).sum() == count
        assert labels[first == window].mean() == pytest.approx(0.3)
    with pytest.raises(SplitError, match="cannot split 5 rows by class"):
        window_of_rows(pd.Series([True] + [False] * 4), 0.2, 0.2, seed=1, stratify=True)


def test_a_split_column_places_each_row_or_names_the_bad_value() -> None:
    given = pd.Series(["train", "Valid", " test ", "validation"], name="fold")
    assert list(window_from_column(given)) == ["train", "validation", "test", "validation"]
    with pytest.raises(SplitError, match="split column 'fold' has value\\(s\\) 'holdout'"):
        window_from_column(pd.Series(["train", "holdout"], name="fold"))
    with pytest.raises(SplitError, match="null"):
        window_from_column(pd.Series(["train", None], name="fold"))

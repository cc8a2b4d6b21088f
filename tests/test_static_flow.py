"""A table without event time end to end, from its YAML alone (configs/examples/breast_cancer.yaml).

The Wisconsin Diagnostic Breast Cancer table as scikit-learn ships it (569 rows, no header,
no dates): ingest as unpartitioned assets -> a seeded, stratified split -> train
(logistic regression and XGBoost) -> champion -> a real `bentoml serve` answering
`/predict` and `/explain`; no daily job, sensor or monitoring asset in its graph.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.config.models import CandidateConfig, TuningConfig
from ml_assets.lib.static_split import SplitError, window_from_column, window_of_rows
from ml_assets.lifecycle.lineage import WHOLE_TABLE
from ml_assets.lifecycle.passport import build_passport
from ml_assets.runs.loop import SensorLoop
from tests.flows import PROJECT_ROOT, champion, records, serving, trained
from tests.helpers import local_test_instance

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


def test_the_graph_has_no_days_only_batches(flow: Any) -> None:
    defs = flow["defs"]
    graph = defs.resolve_asset_graph()
    partitioned = {
        key.path[-1]: graph.get(key).partitions_def
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }
    assert set(partitioned) == {
        "raw_aspirates_batches",
        "validated_aspirates_batches",
        "quarantined_aspirates_batches",
        "batch_features",
        "batch_predictions",
        "drift_report",
        "live_performance",
    }
    assert {p.name for p in partitioned.values()} == {f"{PIPELINE}__batches"}  # type: ignore[attr-defined]
    jobs = {job.name for job in defs.jobs or []}
    named = ("ingest", "train", "rollback", "promote", "deploy", "score_batch")
    assert jobs == {f"{PIPELINE}__{j}" for j in named}
    # Besides the shared alert sensors, the batch sensor and the redeploy sensor (a
    # rollback or promotion rebuilds the bento): no arrival or retrain sensor.
    sensors = {s.name for s in defs.sensors or [] if s.name.startswith(PIPELINE)}
    assert sensors == {f"{PIPELINE}__batch_sensor", f"{PIPELINE}__redeploy_sensor"}


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
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("static-serve") / "serve.log"


@pytest.fixture(scope="module")
def server(flow: Any, server_log: Path) -> Iterator[str]:
    with serving(flow, server_log) as url:
        yield url


def test_the_explain_limit_is_measured_for_a_scikit_learn_champion(
    flow: Any, server: str, server_log: Path
) -> None:
    """The bundle carries an example record: the service times /explain on it at start-up
    and allows what fits its budget (issue 19), not the fixed fallback."""
    limit = httpx.post(f"{server}/metadata", json={}, timeout=30).json()["explain_max_batch_size"]
    assert "per record measured, limit" in server_log.read_text()
    assert 1 <= limit <= 1000
    sent = records(flow, None, min(limit, 200))
    answered = httpx.post(f"{server}/explain", json={"records": sent}, timeout=60)
    assert answered.status_code == 200 and len(answered.json()) == len(sent)
    over = httpx.post(f"{server}/explain", json={"records": sent * 6}, timeout=60)
    assert over.status_code == 400 if len(sent) * 6 > limit else over.status_code == 200


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


def _land(flow: Any, name: str, rows: pd.DataFrame) -> None:
    folder = Path(flow["defs"].resources["sources"].landing_root) / PIPELINE / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / f".{name}.tmp", index=False)  # hidden: the sensor skips it
    (folder / f".{name}.tmp").rename(folder / f"{name}.csv")


def _partition(flow: Any, asset: str, batch: str) -> pd.DataFrame:
    return flow["defs"].resources["lake"].read([PIPELINE, asset], batch)


def test_landed_batches_are_scored_judged_and_quarantined_by_the_batch_sensor(
    flow: Any,
) -> None:
    """New aspirates landed as files: a clean batch without labels (one row with a bad
    value), and a labelled batch whose measurements are scaled by 1.6. The sensor adds a
    partition per file and scores each once; the bad row is quarantined, the scaled batch
    drifts, the clean one does not, and only the labelled one gets a performance verdict."""
    table = pd.read_parquet(flow["state"] / "lake" / PIPELINE / "validated_aspirates.parquet")
    measured = [c for c in table.columns if c != "diagnosis"]
    clean = table.sample(60, random_state=1)[measured].astype(object)
    clean.iloc[0, 0] = "not a number"
    scaled = table.sample(120, random_state=2).copy()  # performance needs 100 labels
    scaled[measured] = scaled[measured] * 1.6
    _land(flow, "clinic-a", clean)
    _land(flow, "scaled.v2", scaled)
    # A persistent instance, as the daemon's is (an ephemeral one cannot resolve the
    # partitions a sensor adds).
    with local_test_instance() as instance:
        _score_landed_batches(flow, SensorLoop(flow["defs"], instance), clean)


def _score_landed_batches(flow: Any, loop: SensorLoop, clean: pd.DataFrame) -> None:
    tick = loop.tick(f"{PIPELINE}__batch_sensor")
    runs = {r.dagster_run.tags["dagster/partition"]: r for r in tick.runs}
    assert set(runs) == {"clinic-a", "scaled.v2"} and all(r.success for r in runs.values())
    assert set(loop.instance.get_dynamic_partitions(f"{PIPELINE}__batches")) == set(runs)

    assert len(_partition(flow, "quarantined_aspirates_batches", "clinic-a")) == 1
    predicted = _partition(flow, "batch_predictions", "clinic-a")
    assert len(predicted) == 59 and predicted["probability"].between(0, 1).all()
    assert predicted["actual"].isna().all()
    drift = {
        batch: {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
        for batch, run in runs.items()
    }
    assert drift["clinic-a"]["feature_drift"] and not drift["scaled.v2"]["feature_drift"]
    performance = {b: _partition(flow, "live_performance", b).iloc[0] for b in runs}
    assert performance["clinic-a"]["verdict"] == "no_verdict"
    assert performance["scaled.v2"]["verdict"] != "no_verdict"
    assert performance["scaled.v2"]["batch"] == "scaled.v2"

    again = loop.tick(f"{PIPELINE}__batch_sensor")
    assert not again.runs  # the same files, unchanged: nothing to score
    _land(flow, "clinic-a", clean.iloc[1:])
    (rerun,) = loop.tick(f"{PIPELINE}__batch_sensor").runs
    assert rerun.success and len(_partition(flow, "batch_predictions", "clinic-a")) == 59

"""Tier 5: the inference log of a real `bentoml serve`, landed in the lake, seen by the
sensor, ingested by `inference_log` and joined to the day's labels by `served_performance`."""

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from dagster import DagsterInstance
from sklearn.metrics import roc_auc_score

from ml_assets.keys import served_traffic_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.features import compute_target
from ml_assets.lib.inference_log import log_days
from tests.helpers import pipeline_defs
from tests.processes import wait_ready
from tests.served_champion import DAYS, as_columns, bentoml_server, records
from tests.test_inference_log import _tick, settling


def test_served_records_are_logged_ingested_and_judged(
    served: dict[str, Any], flight_config: PipelineConfig, tmp_path: Path
) -> None:
    state: Path = served["state"]
    lake = state / "lake"
    first_day, first_rows = records(state, DAYS[0])
    second_day, _ = records(state, DAYS[1])
    batches = [first_day[:50], first_day[50:51], first_day[51:130]]
    columnar = second_day[:40]
    log = tmp_path / "serve.log"
    with bentoml_server(served["first"]["bento_tag"], log, MLAP_INFERENCE_LOG_URL=str(lake)) as url:
        wait_ready(url, log, time.monotonic() + 60)
        answers: list[dict[str, Any]] = []
        for batch in batches:
            response = httpx.post(f"{url}/predict", json={"records": batch}, timeout=60)
            assert response.status_code == 200, response.text
            answers += response.json()
        response = httpx.post(
            f"{url}/predict_columns", json={"columns": as_columns(columnar)}, timeout=60
        )
        assert response.status_code == 200, response.text
        by_columns = response.json()
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert "mlap_inference_log_dropped_total 0.0" in metrics
    # Stopped with SIGTERM right after the last answer: the shutdown hook wrote the buffer.
    assert "Running cleanup hook: flush_inference_log" in log.read_text()
    days = log_days(str(lake), flight_config.name)
    assert set(days) == set(DAYS), days

    config = settling(flight_config, 0)
    defs = pipeline_defs(config, state)
    job = defs.resolve_job_def(served_traffic_job_name(config.name))
    with DagsterInstance.ephemeral() as instance:
        tick = _tick(config, state, None, instance)
        assert sorted(r.partition_key for r in tick.run_requests) == sorted(DAYS)
        assert _tick(config, state, tick.cursor, instance).run_requests == []
        for request in tick.run_requests:
            result = job.execute_in_process(instance=instance, partition_key=request.partition_key)
            assert result.success

    table = lake / config.name / "inference_log"
    first = pd.read_parquet(table / f"{DAYS[0]}.parquet")
    second = pd.read_parquet(table / f"{DAYS[1]}.parquet")
    assert (len(first), len(second)) == (130, 40)
    assert first["request_id"].nunique() == 3 and list(first["route"].unique()) == ["/predict"]
    assert list(first["input_flight"]) == [r["flight"] for r in first_day[:130]]
    assert np.allclose(first["output_probability"], [a["probability"] for a in answers])
    assert list(first["output_label"]) == [a["label"] for a in answers]
    assert np.allclose(second["output_probability"], by_columns["probability"])
    assert list(second["output_label"]) == by_columns["label"]
    assert set(first["model_version"]) == {served["champion"]}
    assert set(first["arm"]) == {"champion"} and (first["latency_ms"] > 0).all()

    # The day's labels joined on the entity key: the same as the validated rows sent.
    judged = pd.read_parquet(lake / config.name / "served_performance" / f"{DAYS[0]}.parquet")
    (row,) = judged.to_dict("records")
    truth = compute_target(first_rows.head(130), config.target)
    known = truth.notna().to_numpy()
    probabilities = np.array([a["probability"] for a in answers])
    assert (row["served"], row["labelled"]) == (130, int(known.sum()))
    expected = roc_auc_score(truth[known].astype(bool), probabilities[known])
    assert abs(row["value"] - expected) < 1e-6
    assert row["verdict"] == "no_verdict"  # fewer labelled rows than monitoring's min_rows

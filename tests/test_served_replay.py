"""Tier 5, issue 15's proof on a real `bentoml serve`: two days of 2013 replayed as live
traffic over HTTP (every validated flight once, in batches, single records and a columnar
request), the log landed and ingested, then the days' labels: drift and live performance
of the served traffic (`served_drift`, `served_performance`, read from `inference_log`)
agree with those of the champion's batch predictions (`drift_report`, `live_performance`)
on the same rows. The longer replay is `benchmarks/reliability/replay_http.py`."""

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from dagster import DagsterInstance

from ml_assets.keys import daily_job_name, model_key, served_traffic_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.runs.results import QUIET
from tests.helpers import pipeline_defs
from tests.processes import wait_ready
from tests.served_champion import DAYS, as_columns, bentoml_server, records
from tests.test_inference_log import _tick, settling

PIPELINE = "flight_delays"
SINGLES = 8  # single-record requests at the start of each day
BATCH = 300


def _send(url: str, day_records: list[dict[str, Any]]) -> list[float]:
    """Every record of a day once: single records, then /predict batches, the last batch
    as columns; the probabilities answered, in the records' order."""
    answered: list[float] = []
    for record in day_records[:SINGLES]:
        response = httpx.post(f"{url}/predict", json={"records": [record]}, timeout=60)
        assert response.status_code == 200, response.text
        answered += [p["probability"] for p in response.json()]
    rest = day_records[SINGLES:]
    chunks = [rest[i : i + BATCH] for i in range(0, len(rest), BATCH)]
    for chunk in chunks[:-1]:
        response = httpx.post(f"{url}/predict", json={"records": chunk}, timeout=60)
        assert response.status_code == 200, response.text
        answered += [p["probability"] for p in response.json()]
    body = {"columns": as_columns(chunks[-1])}
    response = httpx.post(f"{url}/predict_columns", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answered += response.json()["probability"]
    return answered


def _materialised(result: Any, asset: str) -> dict[str, Any]:
    (event,) = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == asset
    ]
    return {k: v.value for k, v in event.metadata.items()}


def _checks(result: Any, asset: str) -> dict[str, bool]:
    """Check name -> passed, of the run's checks of `asset`."""
    return {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1] == asset
    }


def test_replayed_traffic_is_judged_as_the_batch_predictions_are(
    served: dict[str, Any], flight_config: PipelineConfig, tmp_path: Path
) -> None:
    state: Path = served["state"]
    # The served traffic gets a lake of its own (the shared one's log days belong to
    # tests/test_inference_log_served.py); its labels land there after the traffic.
    replay = tmp_path / "replay"
    log_lake = replay / "lake"
    sent = {day: records(state, day) for day in DAYS}
    log = tmp_path / "serve.log"
    with bentoml_server(
        served["first"]["bento_tag"], log, MLAP_INFERENCE_LOG_URL=str(log_lake)
    ) as url:
        wait_ready(url, log, time.monotonic() + 60)
        answered = {day: _send(url, rows) for day, (rows, _) in sent.items()}
    for day in DAYS:
        validated = Path(PIPELINE, "validated_flights", f"{day}.parquet")
        (log_lake / validated).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(state / "lake" / validated, log_lake / validated)

    # The batch side: the champion's predictions of the same days, judged by the daily job.
    # Without the HTML reports, on both sides (Evidently's stat tests called directly: the
    # same scores, seconds less; test_inference_log_served and the benchmark keep the
    # reports).
    monitoring = flight_config.monitoring
    assert monitoring is not None
    no_html = monitoring.drift.model_copy(update={"save_html": False})
    flight_config = flight_config.model_copy(
        update={"monitoring": monitoring.model_copy(update={"drift": no_html})}
    )
    batch_defs = pipeline_defs(flight_config, state)
    daily = batch_defs.resolve_job_def(daily_job_name(PIPELINE))
    batch: dict[str, dict[str, Any]] = {}
    for day in DAYS:
        result = daily.execute_in_process(
            instance=served["lifecycle"].instance,
            partition_key=day,
            asset_selection=[model_key(PIPELINE, a) for a in ("drift_report", "live_performance")],
            run_config=QUIET,
        )
        assert result.success
        batch[day] = _materialised(result, "drift_report")
        batch[day]["checks"] = _checks(result, "drift_report")

    # The served side: the log's days, seen by the sensor, each run through its job.
    config = settling(flight_config, 0)
    defs = pipeline_defs(config, replay)
    job = defs.resolve_job_def(served_traffic_job_name(PIPELINE))
    judged: dict[str, dict[str, Any]] = {}
    with DagsterInstance.ephemeral() as instance:
        tick = _tick(config, replay, None, instance)
        assert sorted(r.partition_key for r in tick.run_requests) == DAYS
        for request in tick.run_requests:
            result = job.execute_in_process(
                instance=instance, partition_key=request.partition_key, run_config=QUIET
            )
            assert result.success
            judged[request.partition_key] = _materialised(result, "served_drift")
            judged[request.partition_key]["checks"] = _checks(result, "served_drift")

    for day in DAYS:
        rows, validated = sent[day]
        logged = pd.read_parquet(log_lake / PIPELINE / "inference_log" / f"{day}.parquet")
        assert len(logged) == len(rows) == len(validated)
        assert logged["request_id"].nunique() == SINGLES + -(-(len(rows) - SINGLES) // BATCH)
        predicted = pd.read_parquet(
            state / "lake" / PIPELINE / "batch_predictions" / f"{day}.parquet"
        )
        # Served in the order sent: the same flights as the validated rows, answered as the
        # client was answered and as the batch predictions scored them.
        assert list(logged["input_flight"]) == list(validated["flight"])
        assert list(logged["input_tailnum"].astype(object)) == list(
            validated["tailnum"].astype(object)
        )
        assert np.allclose(logged["output_probability"], answered[day], rtol=0, atol=1e-6)
        assert np.allclose(
            logged["output_probability"], predicted["probability"], rtol=0, atol=1e-6
        )
        assert list(logged["output_label"]) == list(predicted["label"])

        drift = pd.read_parquet(state / "lake" / PIPELINE / "drift_report" / f"{day}.parquet")
        served_drift = pd.read_parquet(log_lake / PIPELINE / "served_drift" / f"{day}.parquet")
        assert set(served_drift["arm"]) == {"champion"}
        assert set(served_drift["model_version"]) == {served["champion"]}
        pairs = drift.merge(
            served_drift, on="column", suffixes=("_batch", "_served"), validate="1:1"
        )
        assert len(pairs) == len(drift) == len(served_drift) > 10  # features + the prediction
        assert "probability" in set(pairs["column"])
        assert list(pairs["drifted_batch"]) == list(pairs["drifted_served"])
        assert list(pairs["threshold_batch"]) == list(pairs["threshold_served"])
        scores = pairs[["score_batch", "score_served"]].astype("float64")
        assert (scores["score_batch"].isna() == scores["score_served"].isna()).all()
        known = scores.dropna()
        assert len(known) > 10
        assert np.allclose(known["score_batch"], known["score_served"], rtol=1e-9, atol=1e-9)
        (verdict,) = judged[day]["judged"]
        assert (verdict["rows"], verdict["verdict"]) == (len(rows), batch[day]["verdict"])
        assert verdict["drifted_share"] == batch[day]["drifted_share"]
        assert verdict["prediction_score"] == batch[day]["prediction_score"]
        # served_drift's checks are drift_report's, with the same outcomes.
        assert judged[day]["checks"] == batch[day]["checks"]
        assert len(batch[day]["checks"]) == 3

        live = pd.read_parquet(state / "lake" / PIPELINE / "live_performance" / f"{day}.parquet")
        served_live = pd.read_parquet(log_lake / PIPELINE / "served_performance" / f"{day}.parquet")
        (expected,), (got,) = live.to_dict("records"), served_live.to_dict("records")
        assert got["labelled"] == expected["labelled"] > 200  # monitoring's min_rows: a verdict
        assert (got["served"], got["arm"]) == (len(rows), "champion")
        assert (got["metric"], got["verdict"]) == (expected["metric"], expected["verdict"])
        assert got["verdict"] != "no_verdict"
        assert abs(got["value"] - expected["value"]) < 1e-9
        for metric in [c for c in live.columns if c.startswith("live_")]:
            assert got[metric] == expected[metric] or abs(got[metric] - expected[metric]) < 1e-9

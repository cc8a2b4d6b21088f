"""Tiers 1 and 4: automatic rollback on the live service's own evidence. Recorded evidence
in a temporary lake (the inference log in the service's format, `served_performance`
tables) and `drift_report` materialisations in the instance; the rollback sensor through
`build_sensor_context`, then the rollback job with the request's config."""

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    build_sensor_context,
    validate_run_config,
)
from pydantic import ValidationError

from ml_assets.keys import model_key, rollback_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.rollback import RollbackConfig
from ml_assets.lib.inference_errors import FailedRequest
from ml_assets.lib.inference_log import ScoredBatch, log_frame, write_log
from ml_assets.lib.rollback_triggers import keep_log_days
from sensors.rollback import rollback_sensor_name
from tests.helpers import pipeline_defs

DAY = "2013-07-04"
RECORD = {
    "year": 2013,
    "month": 7,
    "day": 4,
    "sched_dep_time": 1730,
    "sched_arr_time": 2010,
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "IAH",
    "distance": 1400,
    "hour": 17,
    "minute": 30,
    "time_hour": datetime(2013, 7, 4, 21, tzinfo=UTC),
}
LATE = {**RECORD, "day": 5, "time_hour": datetime(2013, 7, 5, 21, tzinfo=UTC)}


def _requests(count: int, latency_ms: float, version: str = "2") -> list[ScoredBatch]:
    batch = f"{latency_ms:g}-{count}"
    return [
        ScoredBatch(
            request_id=f"{batch}-{i}",
            served_at=datetime.now(UTC),
            route="/predict",
            latency_ms=latency_ms,
            model_version=version,
            model_tag=f"flight_delays:v{version}-test",
            arm="champion",
            rows=1,
            records=[{**RECORD, "flight": i}],
            columns=None,
            outputs=[{"probability": 0.3, "label": False}],
        )
        for i in range(count)
    ]


def _config(flight_config: PipelineConfig, **limits: Any) -> PipelineConfig:
    policy = RollbackConfig(enabled=True, min_requests=100, **limits)
    serving = flight_config.serving.model_copy(update={"rollback": policy})
    return flight_config.model_copy(update={"serving": serving})


def _tick(defs: Any, instance: DagsterInstance, cursor: str | None = None) -> Any:
    sensor = defs.get_sensor_def(rollback_sensor_name("flight_delays"))
    assert sensor.job_name == rollback_job_name("flight_delays")
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=dict(defs.resources or {}), definitions=defs
    )
    return sensor.evaluate_tick(context)


def test_rollback_config_needs_a_trigger_and_sane_limits() -> None:
    with pytest.raises(ValidationError, match="rollback is enabled but sets no trigger"):
        RollbackConfig(enabled=True)
    with pytest.raises(ValidationError, match="max_drift_share"):
        RollbackConfig(enabled=True, max_drift_share=1.5)
    assert RollbackConfig().enabled is False  # off unless a pipeline asks for it


def test_the_sensor_rolls_back_on_latency_drop_and_drift_and_keeps_the_log(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    config = _config(flight_config, max_p99_ms=500, max_metric_drop=0.05, max_drift_share=0.5)
    defs = pipeline_defs(config, tmp_path)
    lake = str(tmp_path / "lake")
    # 150 fast requests of the champion, and one slow one: p99 stays under the limit.
    write_log(lake, "flight_delays", log_frame(_requests(150, 20.0), config))
    write_log(lake, "flight_delays", log_frame(_requests(1, 2000.0), config))
    with DagsterInstance.ephemeral() as instance:
        calm = _tick(defs, instance)
        assert calm.run_requests == [] and "v2 within every rollback limit" in calm.skip_message

        # The evidence turns: slow answers, a metric drop on labelled traffic, drift.
        write_log(lake, "flight_delays", log_frame(_requests(20, 900.0), config))
        performance = pd.DataFrame(
            {
                "event_date": [DAY, DAY],
                "model_tag": ["flight_delays:v2-test", "flight_delays:v3-test"],
                "model_version": ["2", "3"],
                "arm": ["champion", "challenger"],
                "served": [171, 40],
                "labelled": [160, 40],
                "metric": ["roc_auc", "roc_auc"],
                "value": [0.61, 0.75],
                "test_value": [0.74, 0.74],
                "drop": [0.13, -0.01],
                "verdict": ["error", "ok"],
            }
        )
        folder = tmp_path / "lake" / "flight_delays" / "served_performance"
        folder.mkdir(parents=True)
        performance.to_parquet(folder / f"{DAY}.parquet")
        key = model_key("flight_delays", "drift_report")
        for share, version in ((0.7, "1"), (0.62, "2")):  # the newest, of v2, counts
            instance.report_runless_asset_event(
                AssetMaterialization(
                    key, partition=DAY, metadata={"drifted_share": share, "model_version": version}
                )
            )
        fired = _tick(defs, instance)
        (request,) = fired.run_requests
        assert request.run_key == "2:p99_ms+metric_drop+drift_share"
        assert fired.cursor == "2"
        (op_config,) = request.run_config["ops"].values()
        trigger = op_config["config"]["trigger"]
        assert trigger.startswith("v2: p99_ms 900 > 500 (171 requests, 2013-07-04..2013-07-04)")
        assert "metric_drop 0.13 > 0.05 (roc_auc on 160 labelled served records" in trigger
        assert "drift_share 0.62 > 0.5 (drift_report of 2013-07-04" in trigger
        assert op_config["config"]["keep_log_days"] == [DAY]
        again = _tick(defs, instance, fired.cursor)
        assert again.run_requests == [] and "v2 already rolled back" in again.skip_message

        # The rollback job takes that config (checked without a run here: this lake has no
        # registered versions; tests/test_live_decisions.py runs it on a trained registry),
        # and its first step keeps the log of the days judged.
        job = defs.resolve_job_def(rollback_job_name("flight_delays"))
        assert validate_run_config(job, request.run_config)
    kept = Path(keep_log_days(lake, "flight_delays", op_config["config"]["keep_log_days"], "r1"))
    assert kept == tmp_path / "lake" / "flight_delays" / "inference_log_kept" / "r1"
    assert len(list((kept / DAY).glob("*.parquet"))) == 3


def _failures(count: int, version: str = "2", arm: str = "champion") -> list[FailedRequest]:
    return [
        FailedRequest(
            request_id=f"failed-{version}-{arm}-{i}",
            served_at=datetime.now(UTC),
            route="/predict",
            latency_ms=12.0,
            model_version=version,
            model_tag=f"flight_delays:v{version}-test",
            arm=arm,
            rows=1,
            records=[{**RECORD, "flight": i}],
            columns=None,
            status=500,
            error_id=f"e{i}",
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("answered", "failed", "others", "limit", "expected"),
    [
        (90, 10, 0, 0.05, "error_rate 0.1 > 0.05 (10 of 100 requests failed"),
        (95, 5, 0, 0.05, None),  # at the limit, not over it
        (80, 19, 0, 0.05, None),  # 99 requests: under min_requests, not judged
        (0, 100, 0, 0.5, "error_rate 1 > 0.5 (100 of 100 requests failed"),  # fails every one
        (100, 0, 50, 0.05, None),  # the challenger's and another version's failures
    ],
)
def test_the_error_rate_trigger(
    flight_config: PipelineConfig,
    answered: int,
    failed: int,
    others: int,
    limit: float,
    expected: str | None,
) -> None:
    from ml_assets.lib.inference_errors import error_frame
    from ml_assets.lib.rollback_triggers import fired, served_version

    policy = RollbackConfig(enabled=True, max_error_rate=limit, min_requests=100)
    batches = _requests(answered, 20.0)
    log = (
        log_frame(batches, flight_config)
        if batches
        else log_frame(_requests(1, 20.0, "1"), flight_config)
    )
    failures = _failures(failed) + _failures(others, arm="challenger") + _failures(others, "1")
    errors = error_frame(failures, flight_config)
    assert served_version(log, errors.iloc[:failed]) == "2"
    triggers = fired(policy, "2", log, None, {}, [DAY], errors)
    if expected is None:
        assert triggers == []
    else:
        (trigger,) = triggers
        assert trigger.name == "error_rate" and trigger.describe().startswith(expected)


def test_failed_requests_are_written_beside_the_log_and_read_once(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    from ml_assets.lib.inference_errors import error_days, error_frame, read_errors, write_errors
    from ml_assets.lib.inference_log import log_days

    lake = str(tmp_path / "lake")
    # One failed request of three records, two of them of the next day's flights.
    (one,) = _failures(1)
    request = dataclasses.replace(one, rows=3, records=[RECORD, LATE, LATE])
    frame = error_frame([request], flight_config)
    assert list(frame["event_date"]) == [DAY, "2013-07-05"] and list(frame["rows"]) == [1, 2]
    assert set(frame["status"]) == {500} and set(frame["error_id"]) == {"e0"}
    write_errors(lake, "flight_delays", frame)
    write_errors(lake, "flight_delays", frame)  # a retried write
    assert log_days(lake, "flight_delays") == {}  # the log's readers never see them
    assert sorted(error_days(lake, "flight_delays")) == [DAY, "2013-07-05"]
    read = read_errors(lake, "flight_delays", [DAY, "2013-07-05"])
    assert len(read) == 2 and list(read["request_id"]) == [one.request_id] * 2


def test_the_sensor_rolls_back_a_champion_that_fails_every_request(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    from ml_assets.lib.inference_errors import error_frame, write_errors

    config = _config(flight_config, max_error_rate=0.2)
    defs = pipeline_defs(config, tmp_path)
    lake = str(tmp_path / "lake")
    # Yesterday v1 answered; today v2 answers nothing: only errors files for the day.
    write_log(lake, "flight_delays", log_frame(_requests(150, 20.0, "1"), config))
    failures = [
        dataclasses.replace(
            f, records=[{**RECORD, "day": 5, "time_hour": datetime(2013, 7, 5, 21, tzinfo=UTC)}]
        )
        for f in _failures(120)
    ]
    write_errors(lake, "flight_delays", error_frame(failures, config))
    with DagsterInstance.ephemeral() as instance:
        fired = _tick(defs, instance)
    (request,) = fired.run_requests
    assert request.run_key == "2:error_rate" and fired.cursor == "2"
    (op_config,) = request.run_config["ops"].values()
    assert op_config["config"]["trigger"].startswith(
        "v2: error_rate 1 > 0.2 (120 of 120 requests failed, 2013-07-05..2013-07-05)"
    )
    assert op_config["config"]["keep_log_days"] == ["2013-07-05"]


def test_served_drift_of_the_champion_arm_is_judged_before_the_batch_drift_report(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    """The drift trigger reads the traffic the service answered first: the champion arm's
    share in `served_drift` (a drifting challenger arm does not count), and the day's
    `drift_report` only for a day that `served_drift` has not judged."""
    config = _config(flight_config, max_drift_share=0.5)
    defs = pipeline_defs(config, tmp_path)
    write_log(str(tmp_path / "lake"), "flight_delays", log_frame(_requests(150, 20.0), config))
    served, batch = (model_key("flight_delays", a) for a in ("served_drift", "drift_report"))
    with DagsterInstance.ephemeral() as instance:

        def report(key: Any, **metadata: Any) -> None:
            event = AssetMaterialization(key, partition=DAY, metadata=metadata)
            instance.report_runless_asset_event(event)

        report(batch, drifted_share=0.9, model_version="2")
        calm = [
            {"model_version": "2", "arm": "champion", "drifted_share": 0.1},
            {"model_version": "3", "arm": "challenger", "drifted_share": 0.95},
        ]
        report(served, judged=calm)
        assert _tick(defs, instance).run_requests == []  # served traffic calm: not the batch

        drifting = [{**calm[0], "drifted_share": 0.7}, calm[1]]
        report(served, judged=drifting)
        (request,) = _tick(defs, instance).run_requests
        (op_config,) = request.run_config["ops"].values()
        assert "drift_share 0.7 > 0.5 (served_drift of 2013-07-04" in op_config["config"]["trigger"]

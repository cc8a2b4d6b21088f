"""The inference log without a server: the buffer (flush, cap, shutdown), the rows it
writes, the label join and the sensor (tiers 1 and 4). The served end to end is in
tests/test_inference_log_served.py."""

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import build_sensor_context

from bentos.inference_log import InferenceLog
from ml_assets.keys import served_traffic_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.lifecycle import InferenceLogConfig
from ml_assets.lib.inference_log import (
    ScoredBatch,
    entity_key,
    log_days,
    log_frame,
    outputs_of,
    read_day,
    with_labels,
    write_log,
)
from sensors.inference_log import inference_log_sensor_name
from tests.helpers import local_test_instance, pipeline_defs

RECORD: dict[str, Any] = {
    "year": 2013,
    "month": 7,
    "day": 4,
    "sched_dep_time": 1730,
    "sched_arr_time": 2015,
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


def _record(flight: int, when: datetime | None = None) -> dict[str, Any]:
    return {**RECORD, "flight": flight, "time_hour": when or RECORD["time_hour"]}


def _batch(records: list[dict[str, Any]], request: str = "r") -> ScoredBatch:
    outputs = [
        {"probability": r["flight"] / 10_000, "label": r["flight"] > 5000, "model_version": "1"}
        for r in records
    ]
    return ScoredBatch(
        request_id=request,
        served_at=datetime.now(UTC),
        route="/predict",
        latency_ms=2.5,
        model_version="1",
        model_tag="flight_delays:v1-test",
        arm="champion",
        rows=len(records),
        records=records,
        columns=None,
        outputs=outputs,
    )


def _log(config: PipelineConfig, lake: Path, start: bool = True, **options: Any) -> InferenceLog:
    def write(batches: Any) -> int:
        frame = log_frame(batches, config)
        write_log(str(lake), config.name, frame)
        return len(frame)

    log = InferenceLog(write, **{"flush_seconds": 3600.0, "max_records": 1000, **options})
    return log.start() if start else log


def test_rows_of_records_and_of_columns_are_the_same_and_dated_by_the_event(
    flight_config: PipelineConfig,
) -> None:
    # 23:00 in New York on Jul 4 is Jul 5 in UTC: the event's day is the pipeline zone's.
    late = datetime(2013, 7, 5, 3, tzinfo=UTC)
    records = [_record(1), _record(7000, late)]
    by_records = log_frame([_batch(records, "a")], flight_config)
    columns = {name: [r[name] for r in records] for name in RECORD}
    by_columns = log_frame(
        [
            ScoredBatch(
                request_id="a",
                served_at=datetime.now(UTC),
                route="/predict_columns",
                latency_ms=2.5,
                model_version="1",
                model_tag="flight_delays:v1-test",
                arm="champion",
                rows=2,
                records=None,
                columns=columns,
                outputs={
                    "probability": [0.0001, 0.7],
                    "label": [False, True],
                    "model_version": "1",
                },
            )
        ],
        flight_config,
    )
    inputs = [c for c in by_records.columns if c.startswith("input_")]
    assert len(inputs) == len(RECORD)
    pd.testing.assert_frame_equal(by_records[inputs], by_columns[inputs])
    assert list(by_records["event_date"]) == ["2013-07-04", "2013-07-04"]
    assert list(by_records["record"]) == [0, 1]
    assert list(outputs_of(by_columns)["label"]) == [False, True]
    assert "output_model_version" not in by_records.columns
    # A multiclass answer's mapping per row comes back as the scored frame's columns.
    shares = [{"a": 0.9, "b": 0.1}, {"a": 0.3, "b": 0.7}]
    multiclass = pd.DataFrame({"output_label": ["a", "b"], "output_probabilities": shares})
    assert outputs_of(multiclass).to_dict("list") == {
        "label": ["a", "b"],
        "probability[a]": [0.9, 0.3],
        "probability[b]": [0.1, 0.7],
    }


def test_buffer_flushes_caps_and_writes_the_rest_on_close(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    dropped: list[int] = []
    # No background writer: past half the cap it would write between the appends below.
    log = _log(flight_config, tmp_path, start=False, max_records=5, on_dropped=dropped.append)
    log.append(_batch([_record(1), _record(2)], "first"))
    log.append(_batch([_record(3), _record(4)], "second"))
    assert log.flush() == 4
    (day,) = log_days(str(tmp_path), flight_config.name)
    rows, files = read_day(str(tmp_path), flight_config.name, day)
    assert (len(rows), files) == (4, 1)
    assert list(rows["input_flight"]) == [1, 2, 3, 4]
    # Past the cap the oldest requests go, and are counted.
    log.append(_batch([_record(5), _record(6), _record(7)], "third"))
    log.append(_batch([_record(8), _record(9)], "fourth"))
    log.append(_batch([_record(10)], "fifth"))
    assert (log.dropped, dropped, log.buffered) == (3, [3], 3)
    # A clean shutdown writes what is buffered; closing twice writes nothing twice.
    log.close()
    log.close()
    rows, files = read_day(str(tmp_path), flight_config.name, day)
    assert (files, log.written) == (2, 7)
    assert sorted(rows["input_flight"]) == [1, 2, 3, 4, 8, 9, 10]


def test_the_thread_writes_every_interval_and_a_failed_write_is_retried(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the lake's folder should be")
    failures: list[Exception] = []
    log = _log(flight_config, blocked, flush_seconds=0.2, on_failed=failures.append)
    log.append(_batch([_record(1), _record(2)]))
    deadline = time.monotonic() + 10
    while not failures and time.monotonic() < deadline:
        time.sleep(0.05)
    assert failures and log.buffered == 2  # put back, nothing lost
    log.close()
    good = _log(flight_config, tmp_path, flush_seconds=0.2)
    good.append(_batch([_record(1), _record(2), _record(3)]))
    deadline = time.monotonic() + 10
    while not log_days(str(tmp_path), flight_config.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert good.written == 3 and good.buffered == 0  # by the thread, before any close
    good.close()
    # Half the cap buffered: written at once, long before the interval.
    early = _log(flight_config, tmp_path / "early", flush_seconds=3600.0, max_records=4)
    early.append(_batch([_record(1), _record(2)]))
    deadline = time.monotonic() + 10
    while early.written < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (early.written, early.dropped) == (2, 0)
    early.close()


def test_labels_join_on_the_entity_key_without_adding_rows(flight_config: PipelineConfig) -> None:
    assert entity_key(flight_config) == [
        "time_hour",
        "carrier",
        "flight",
        "origin",
        "sched_dep_time",
    ]
    log = log_frame([_batch([_record(1), _record(2), _record(1), _record(3)])], flight_config)
    validated = pd.DataFrame(
        {
            "time_hour": pd.to_datetime([RECORD["time_hour"]] * 3, utc=True).as_unit("us"),
            "carrier": pd.array(["UA", "UA", "UA"], dtype="string"),
            "flight": pd.array([1, 2, 2], dtype="Int64"),
            "origin": pd.array(["EWR"] * 3, dtype="string"),
            "sched_dep_time": pd.array([1730] * 3, dtype="Int64"),
            "dep_delay": [20.0, 3.0, 99.0],  # flight 2 twice: the first row wins
        }
    )
    joined = with_labels(log, validated, entity_key(flight_config) or [], flight_config)
    assert len(joined) == 4
    assert list(joined["actual"].astype("object")) == [True, False, True, pd.NA]
    unlabelled = with_labels(log, None, ["flight"], flight_config)
    assert unlabelled["actual"].isna().all() and len(unlabelled) == 4


def test_a_configured_entity_key_must_be_request_fields(tmp_path: Path) -> None:
    from ml_assets.lib.config import ConfigError, load_pipeline_config
    from tests.conftest import FLIGHT_DELAYS_YAML

    broken = tmp_path / "flight_delays.yaml"
    text = FLIGHT_DELAYS_YAML.read_text().replace(
        "  workers: 1\n", "  workers: 1\n  entity_key: [flight, arr_delay, nope]\n"
    )
    broken.write_text(text)
    shutil.copy(FLIGHT_DELAYS_YAML.parent / "_defaults.yaml", tmp_path)
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(broken)
    assert "serving.entity_key.1: 'arr_delay' is a forbidden column" in str(refused.value)
    assert "serving.entity_key.2: 'nope' is not a column of the event source" in str(refused.value)


def _tick(config: PipelineConfig, state: Path, cursor: str | None, instance: Any) -> Any:
    defs = pipeline_defs(config, state)
    sensor = defs.get_sensor_def(inference_log_sensor_name(config.name))
    assert sensor.job_name == served_traffic_job_name(config.name)
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=dict(defs.resources or {}), definitions=defs
    )
    return sensor.evaluate_tick(context)


def settling(config: PipelineConfig, seconds: float) -> PipelineConfig:
    serving = config.serving.model_copy(
        update={"inference_log": InferenceLogConfig(settle_seconds=seconds)}
    )
    return config.model_copy(update={"serving": serving})


def test_sensor_requests_one_run_per_day_with_new_files(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    lake = str(tmp_path / "lake")
    day_two = datetime(2013, 7, 5, 15, tzinfo=UTC)
    outside = datetime(2015, 1, 1, 15, tzinfo=UTC)  # past the pipeline's end date
    records = [_record(1), _record(2), _record(3, day_two), _record(4, outside)]
    write_log(lake, flight_config.name, log_frame([_batch(records)], flight_config))
    write_log(lake, flight_config.name, log_frame([_batch([_record(5)])], flight_config))
    assert {d: len(n) for d, n in log_days(lake, flight_config.name).items()} == {
        "2013-07-04": 2,
        "2013-07-05": 1,
        "2015-01-01": 1,
    }
    with local_test_instance() as instance:
        waiting = _tick(settling(flight_config, 3600), tmp_path, None, instance)
        assert waiting.run_requests == [] and "still being written" in waiting.skip_message
        config = settling(flight_config, 0)
        first = _tick(config, tmp_path, waiting.cursor, instance)
        assert [r.partition_key for r in first.run_requests] == ["2013-07-04", "2013-07-05"]
        assert set(json.loads(first.cursor)) == {"2013-07-04", "2013-07-05", "2015-01-01"}
        again = _tick(config, tmp_path, first.cursor, instance)
        assert again.run_requests == []
        write_log(lake, config.name, log_frame([_batch([_record(6)])], config))
        more = _tick(config, tmp_path, again.cursor, instance)
        assert [r.partition_key for r in more.run_requests] == ["2013-07-04"]
        assert more.run_requests[0].run_key != first.run_requests[0].run_key
        # A newest file written just now keeps its day waiting under a settle time.
        write_log(lake, config.name, log_frame([_batch([_record(7)])], config))
        busy = _tick(settling(flight_config, 60), tmp_path, more.cursor, instance)
        assert busy.run_requests == [] and "2013-07-04" in busy.skip_message


@pytest.mark.parametrize("pipeline", ["flight_delays", "mpls_stops", "vic_electricity"])
def test_inputs_are_typed_alike_from_records_columns_and_records_validated_as_columns(
    pipeline: str,
) -> None:
    """The log types a batch's inputs from its columns when it has them (a columnar
    request, or /predict's records validated as columns): the same frame, dtypes and
    all, as from the records one by one (`typed_events`), for real pipelines' fields."""
    from hypothesis import given, settings

    from ml_assets.lib.config import load_pipeline_config
    from ml_assets.lib.inference_log import log_frame
    from ml_assets.lib.record_columns import RecordColumnsValidator
    from ml_assets.lib.scoring import serving_columns
    from ml_assets.lib.typed_events import typed_events
    from tests.records import batch_strategy
    from tests.test_service_contract import PIPELINE_FILES

    config = load_pipeline_config(next(p for p in PIPELINE_FILES if p.stem == pipeline))
    validator = RecordColumnsValidator(config)
    fields = serving_columns(config)

    @settings(max_examples=25, deadline=None, database=None)
    @given(records=batch_strategy(config, max_size=5), more=batch_strategy(config, max_size=3))
    def check(records: list[dict[str, Any]], more: list[dict[str, Any]]) -> None:
        validated = validator.validate_json(json.dumps({"records": records}, default=str).encode())
        assert validated is not None
        as_records = [dict(vars(r)) for r in validated]
        as_columns = {name: [r[name] for r in more] for name in fields}

        def batch(records: Any, columns: Any, rows: int) -> ScoredBatch:
            outputs = [{"probability": 0.5}] * rows
            return ScoredBatch(
                "r", datetime.now(UTC), "/predict", 1.0, "1", "t", "champion", rows,
                records, columns, outputs,
            )  # fmt: skip

        expected = typed_events([*as_records, *more], fields).add_prefix("input_")
        for first in (validated, as_records):
            frame = log_frame(
                [batch(first, None, len(records)), batch(None, as_columns, len(more))], config
            )
            inputs = frame[[c for c in frame.columns if c.startswith("input_")]]
            pd.testing.assert_frame_equal(inputs, expected)

    check()

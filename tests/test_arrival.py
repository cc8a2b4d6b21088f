"""The landing zone scan and the arrival sensor: run keys, cursor, re-deliveries."""

import json
from pathlib import Path

from dagster import build_sensor_context

from ml_assets.keys import daily_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.landing import arrivals, scan
from sensors.arrival import arrival_sensor_name
from tests.helpers import local_test_instance, pipeline_defs


def test_scan_hashes_day_files_and_skips_temporary_and_foreign_ones(tmp_path: Path) -> None:
    (tmp_path / "2013-05-01.csv").write_text("a\n1\n")
    (tmp_path / ".2013-05-02.csv.tmp").write_text("half")
    (tmp_path / "notes.csv").write_text("x")
    (tmp_path / "2013-05-03.parquet").write_text("other format")
    assert list(scan(tmp_path, "csv")) == ["2013-05-01.csv"]
    assert scan(tmp_path / "missing", "csv") == {}


def test_arrivals_are_new_or_changed_files() -> None:
    seen = {"2013-05-01.csv": "aa", "2013-05-02.csv": "bb"}
    current = {"2013-05-01.csv": "aa", "2013-05-02.csv": "cc", "2013-05-03.csv": "dd"}
    found = arrivals(current, seen)
    assert [(a.partition, a.sha256) for a in found] == [("2013-05-02", "cc"), ("2013-05-03", "dd")]
    assert found[0].run_key == "2013-05-02.csv:cc"


def _tick(config: PipelineConfig, state: Path, cursor: str | None, instance):  # type: ignore[no-untyped-def]
    defs = pipeline_defs(config, state)
    sensor = defs.get_sensor_def(arrival_sensor_name(config.name))
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=dict(defs.resources or {}), definitions=defs
    )
    return sensor.evaluate_tick(context)


def test_sensor_requests_one_run_per_new_file_and_nothing_on_redelivery(
    flight_config: PipelineConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "landing" / "flights"
    folder.mkdir(parents=True)
    (folder / "2013-05-01.csv").write_text("year\n2013\n")
    (folder / "2013-05-02.csv").write_text("year\n2013\n2013\n")
    (folder / "2014-06-01.csv").write_text("year\n2014\n")  # outside the partitions
    with local_test_instance() as instance:
        first = _tick(flight_config, tmp_path, None, instance)
        assert [r.partition_key for r in first.run_requests] == ["2013-05-01", "2013-05-02"]
        assert len({r.run_key for r in first.run_requests}) == 2
        assert all(r.tags["mlap/landing_file"].startswith("2013-05-0") for r in first.run_requests)
        assert set(json.loads(first.cursor)) == {
            "2013-05-01.csv",
            "2013-05-02.csv",
            "2014-06-01.csv",
        }
        (folder / "2013-05-01.csv").write_text("year\n2013\n")  # the same bytes again
        again = _tick(flight_config, tmp_path, first.cursor, instance)
        assert again.run_requests == [] and "nothing new" in (again.skip_message or "")
        (folder / "2013-05-01.csv").write_text("year\n2013\n2013\n2013\n")  # corrected file
        changed = _tick(flight_config, tmp_path, again.cursor, instance)
        assert [r.partition_key for r in changed.run_requests] == ["2013-05-01"]
        assert changed.run_requests[0].run_key != first.run_requests[0].run_key
        job = (
            pipeline_defs(flight_config, tmp_path)
            .get_sensor_def(arrival_sensor_name(flight_config.name))
            .job_name
        )
        assert job == daily_job_name(flight_config.name)

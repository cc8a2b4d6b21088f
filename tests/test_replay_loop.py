"""What the loop summary says about replayed days (what `make demo` prints at the end)."""

from datetime import date
from pathlib import Path

import pytest

from ml_assets.lib.config import PipelineConfig
from ml_assets.runs.replay_loop import DayOutcome, LoopSummary, replay_through_loop
from tests.helpers import local_test_instance, pipeline_defs

DAY = date(2013, 6, 12)


def test_summary_counts_verdicts_per_check_and_lists_decisions() -> None:
    summary = LoopSummary(
        days=[
            DayOutcome("2013-06-12", 983, 9.9, True, {"feature_drift": "warn", "perf": "error"}),
            DayOutcome("2013-06-13", 989, 5.1, True, {"feature_drift": "error", "perf": "ok"}),
            DayOutcome("2013-06-14", 989, 5.0, True, {}, retrain="3 of 5 days -> succeeded"),
        ],
        decisions=["keep: kept champion"],
    )
    footer = summary.footer().splitlines()
    assert footer == [
        "3 day(s) replayed, mean 6.7 s from file to checks",
        "checks not passing (days): feature_drift 1 warn, 1 error; perf 1 error",
        "retraining runs: 1",
        "decision: keep: kept champion",
    ]
    assert "retraining: 3 of 5 days -> succeeded" in summary.render()


def test_a_day_whose_file_already_had_its_run_says_so() -> None:
    repeated = DayOutcome("2013-06-12", 983, 0.4, True, duplicate=True)
    assert "already processed" in repeated.lines()[0]
    assert "no checks ran" in DayOutcome("2013-06-12", 0, 0.4, False).lines()[0]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_rows_of_a_replayed_day_are_counted_in_every_landing_format(
    flight_config: PipelineConfig, tmp_path: Path, fmt: str
) -> None:
    source = flight_config.event_source
    assert source.landing_zone is not None
    landing = source.landing_zone.model_copy(update={"format": fmt})
    sources = {
        **flight_config.sources,
        flight_config.partitioning.source: source.model_copy(update={"landing_zone": landing}),
    }
    config = flight_config.model_copy(update={"sources": sources})
    defs = pipeline_defs(config, tmp_path)
    # Nothing was ingested or trained: the day's run fails early, which is not the point.
    with local_test_instance(temp_dir=str(tmp_path)) as instance:
        summary = replay_through_loop(defs, instance, config, [DAY])
    (outcome,) = summary.days
    landed = defs.resources["sources"].read_events(  # type: ignore[index]
        config.event_source, config.partitioning, [DAY.isoformat()]
    )
    assert (tmp_path / "landing" / "flights" / f"{DAY.isoformat()}.{fmt}").is_file()
    assert outcome.rows == len(landed) > 900  # a June weekday of NYC departures

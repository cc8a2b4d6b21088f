"""What the loop summary says about replayed days (what `make demo` prints at the end)."""

from ml_assets.runs.replay_loop import DayOutcome, LoopSummary


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

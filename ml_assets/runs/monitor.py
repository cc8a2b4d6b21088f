"""Monitor a range of days: predictions as one run, then drift and live performance per day.

The monitoring assets cannot run a range in one run: their checks are partitioned and an
`AssetCheckResult` has no partition argument, so a check result belongs to the run's one
partition (hence their `multi_run(1)` backfill policy). Predictions have no such checks
and run the whole range at once.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import DagsterInstance, Definitions

from ml_assets.keys import daily_job_name, model_key
from ml_assets.runs.predict import PredictionSummary, run_predictions
from ml_assets.runs.results import QUIET, failure_message

MONITORING_ASSETS = ("drift_report", "live_performance")


@dataclass
class MonitoredDay:
    day: str
    run_id: str
    success: bool
    drifted_share: float | None = None
    live_metric: str | None = None
    live_value: float | None = None
    checks: dict[str, str] = field(default_factory=dict)  # check -> ok / warn / error
    error: str | None = None

    @property
    def failed_checks(self) -> list[str]:
        return [f"{name}: {verdict}" for name, verdict in self.checks.items() if verdict != "ok"]


@dataclass
class MonitorSummary:
    pipeline: str
    predictions: PredictionSummary
    days: list[MonitoredDay] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        return self.predictions.success and all(d.success for d in self.days)

    @property
    def failed_checks(self) -> list[str]:
        return [f"{d.day} {c}" for d in self.days for c in d.failed_checks]

    def render(self) -> str:
        metric = next((d.live_metric for d in self.days if d.live_metric), "roc_auc")
        checks = sorted({name for d in self.days for name in d.checks})
        lines = [
            f"{'day':<12}{'drifted':>8}  {'live ' + metric:>14}  "
            + "  ".join(checks or ["checks"]),
        ]
        for d in self.days:
            share = "-" if d.drifted_share is None else f"{d.drifted_share:.0%}"
            live = "-" if d.live_value is None else f"{d.live_value:.4f}"
            verdicts = [d.checks.get(name, "-").ljust(len(name)) for name in checks]
            row = f"{d.day:<12}{share:>8}  {live:>14}  " + "  ".join(verdicts)
            lines.append(row.rstrip() + (f"  run FAILED: {d.error}" if not d.success else ""))
        failed = self.failed_checks
        ran = sum(1 for d in self.days if d.success)
        lines.append(
            f"{ran} of {len(self.days)} day(s) monitored in {self.seconds:.1f} s; "
            f"checks not passing: {len(failed) or 'none'}"
        )
        return "\n".join(lines)


def run_monitoring(
    defs: Definitions,
    pipeline: str,
    start: str,
    end: str,
    instance: DagsterInstance,
    on_day: Callable[[MonitoredDay], None] = lambda _: None,
) -> MonitorSummary:
    """Batch predictions for [start, end] in one run; if it succeeds, one run per day of
    the daily job's monitoring assets (drift_report, live_performance and their checks),
    in process. A failed check is reported per day; a failed run stops nothing else."""
    begun = time.perf_counter()
    predictions = run_predictions(defs, pipeline, start, end, instance)
    summary = MonitorSummary(pipeline, predictions)
    if not predictions.success:
        summary.seconds = time.perf_counter() - begun
        return summary
    job = defs.resolve_job_def(daily_job_name(pipeline))
    selection = [model_key(pipeline, name) for name in MONITORING_ASSETS]
    for predicted in predictions.days:
        result = job.execute_in_process(
            instance=instance,
            partition_key=predicted.day,
            asset_selection=selection,
            run_config=QUIET,
            tags={"user": "mlap monitor"},
            raise_on_error=False,
        )
        day = MonitoredDay(predicted.day, result.run_id, result.success)
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            metadata = {k: v.value for k, v in materialization.metadata.items()}
            if materialization.asset_key.path[-1] == "drift_report":
                share = metadata.get("drifted_share")
                day.drifted_share = float(share) if isinstance(share, int | float) else None
            if materialization.asset_key.path[-1] == "live_performance":
                value = metadata.get("value")
                day.live_metric = str(metadata.get("metric") or "") or None
                day.live_value = float(value) if isinstance(value, int | float) else None
        for evaluation in result.get_asset_check_evaluations():
            verdict = "ok" if evaluation.passed else str(evaluation.severity.value).lower()
            day.checks[evaluation.check_name] = verdict
        day.error = None if result.success else failure_message(result)
        summary.days.append(day)
        on_day(day)
    summary.seconds = time.perf_counter() - begun
    return summary

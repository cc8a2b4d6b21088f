"""Score a range of days with the champion as one run of the predict job, and summarise."""

import time
from dataclasses import dataclass, field

import pandas as pd
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from ml_assets.dagster_private import execute_uncaptured
from ml_assets.keys import model_key, predict_job_name
from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from ml_assets.runs.backfill import day_windows
from ml_assets.runs.results import QUIET, failure_message


@dataclass(frozen=True)
class PredictedDay:
    day: str
    rows: int
    labelled: int
    mean_probability: float | None
    positive_rate: float | None
    model_versions: tuple[str, ...]


@dataclass
class PredictionSummary:
    pipeline: str
    start: str
    end: str
    run_id: str
    success: bool
    seconds: float
    days: list[PredictedDay] = field(default_factory=list)
    error: str | None = None

    @property
    def model_versions(self) -> list[str]:
        return sorted({v for d in self.days for v in d.model_versions})

    def render(self) -> str:
        status = "succeeded" if self.success else "FAILED"
        versions = ", ".join(f"v{v}" for v in self.model_versions) or "none"
        lines = [
            f"{self.pipeline} predictions {self.start} .. {self.end} ({len(self.days)} days) "
            f"{status} in {self.seconds:.1f} s (run {self.run_id})",
            f"model version: {versions}",
        ]
        if self.days:
            lines.append(f"{'day':<12}{'rows':>7}{'labelled':>10}{'mean p':>9}{'positive':>10}")
        for d in self.days:
            mean = "-" if d.mean_probability is None else f"{d.mean_probability:.4f}"
            rate = "-" if d.positive_rate is None else f"{d.positive_rate:.1%}"
            lines.append(f"{d.day:<12}{d.rows:>7,}{d.labelled:>10,}{mean:>9}{rate:>10}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def range_tags(start: str, end: str) -> dict[str, str]:
    return {PARTITION_RANGE_START_TAG: start, PARTITION_RANGE_END_TAG: end}


def run_predictions(
    defs: Definitions,
    pipeline: str,
    start: str,
    end: str,
    instance: DagsterInstance,
    days_per_run: int | None = None,
) -> PredictionSummary:
    """Materialise batch_predictions for [start, end] in one run (its single-run backfill
    policy reads the range's features at once and writes one file per day), or in
    consecutive runs of at most `days_per_run` days, which bounds the rows held in memory;
    then read each day back from the lake for the summary. The runs stop at the first
    that fails."""
    if days_per_run is None:
        return _run_once(defs, pipeline, start, end, instance)
    if days_per_run < 1:
        raise ValueError(f"days_per_run must be at least 1, got {days_per_run}")
    summaries: list[PredictionSummary] = []
    for first, last in day_windows(start, end, days_per_run):
        summaries.append(_run_once(defs, pipeline, first, last, instance))
        if not summaries[-1].success:
            break
    return PredictionSummary(
        pipeline,
        start,
        end,
        ", ".join(s.run_id for s in summaries),
        all(s.success for s in summaries),
        sum(s.seconds for s in summaries),
        [day for s in summaries for day in s.days],
        next((s.error for s in summaries if s.error), None),
    )


def _run_once(
    defs: Definitions, pipeline: str, start: str, end: str, instance: DagsterInstance
) -> PredictionSummary:
    from resources.lake import LakeResource

    job = defs.resolve_job_def(predict_job_name(pipeline))
    begun = time.perf_counter()
    result = execute_uncaptured(
        job, instance=instance, tags=range_tags(start, end), run_config=QUIET, raise_on_error=False
    )
    summary = PredictionSummary(
        pipeline, start, end, result.run_id, result.success, time.perf_counter() - begun
    )
    lake = (defs.resources or {})["lake"]
    assert isinstance(lake, LakeResource)
    for day in _materialised_days(result, pipeline):
        frame = lake.read([pipeline, "batch_predictions"], day)
        summary.days.append(
            PredictedDay(
                day=day,
                rows=len(frame),
                labelled=int(frame["actual"].notna().sum()),
                mean_probability=_mean(frame, "probability"),
                positive_rate=_mean(frame, "label") if _binary(frame) else None,
                model_versions=tuple(sorted(set(frame["model_version"].dropna().astype(str)))),
            )
        )
    summary.error = None if result.success else failure_message(result)
    return summary


def _materialised_days(result: ExecuteInProcessResult, pipeline: str) -> list[str]:
    key = model_key(pipeline, "batch_predictions")
    return sorted(
        {
            str(e.step_materialization_data.materialization.partition)
            for e in result.get_asset_materialization_events()
            if e.asset_key == key
        }
    )


def _mean(frame: pd.DataFrame, column: str) -> float | None:
    """A binary day's mean probability or positive rate; None for other problem types."""
    if column not in frame or not len(frame):
        return None
    return float(frame[column].mean())


def _binary(frame: pd.DataFrame) -> bool:
    """Batch predictions of a binary model: a boolean label."""
    return "label" in frame and pd.api.types.is_bool_dtype(frame["label"])

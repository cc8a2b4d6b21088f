"""Run a pipeline's ingest job over a range of days as one run, and summarise what it did."""

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from dagster import AssetKey, DagsterInstance, Definitions

from ml_assets.dagster_private import execute_uncaptured
from ml_assets.keys import ingest_job_name
from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG


@dataclass
class BackfillSummary:
    pipeline: str
    start: str | None  # None: a static table, read whole
    end: str | None
    run_id: str
    success: bool
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, dict[str, object]] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)

    def render(self) -> str:
        status = "succeeded" if self.success else "FAILED"
        if self.start is None or self.end is None:
            what = "the whole table"
        else:
            days = (date.fromisoformat(self.end) - date.fromisoformat(self.start)).days + 1
            what = f"{self.start} .. {self.end} ({days} days)"
        lines = [
            f"{self.pipeline}: {what} {status} in {self.seconds:.1f} s (run {self.run_id})",
            f"{'asset':<28}{'partitions':>11}{'rows':>12}  notes",
        ]
        for asset, rows in self.rows.items():
            parts = self.partitions.get(asset) or "-"
            lines.append(f"{asset:<28}{parts:>11}{rows:>12,}  {self._note(asset)}".rstrip())
        if self.failed_checks:
            lines.append("failed checks: " + "; ".join(self.failed_checks))
        return "\n".join(lines)

    def _note(self, asset: str) -> str:
        meta = self.metadata.get(asset, {})
        if asset.startswith("quarantined_"):
            reasons = self.metadata.get(asset.replace("quarantined_", "validated_"), {}).get(
                "quarantine_reasons"
            )
            return f"why: {reasons}" if reasons else ""
        if asset == "features" and "labelled_rows" in meta:
            labelled = f"{meta['labelled_rows']:,} labelled"
            if "positive_rate" in meta:
                return f"{labelled}, {meta['positive_rate']:.1%} positive"
            if "target_mean" in meta:
                return f"{labelled}, mean target {meta['target_mean']:.4g}"
            return labelled
        return ""


def run_backfill(
    defs: Definitions,
    pipeline: str,
    start: str | None,
    end: str | None,
    instance: DagsterInstance,
    log_level: str = "INFO",
    days_per_run: int | None = None,
) -> BackfillSummary:
    """Materialise the pipeline's data and feature assets for [start, end] in one run (a
    static table's, start and end None, whole), or in consecutive runs of at most
    `days_per_run` days: a run holds its whole range's raw, validated and feature rows in
    memory at once, so a long history in one run needs memory in proportion. The runs stop
    at the first that fails."""
    if start is None or end is None or days_per_run is None:
        return _run_once(defs, pipeline, start, end, instance, log_level)
    if days_per_run < 1:
        raise ValueError(f"days_per_run must be at least 1, got {days_per_run}")
    summaries = []
    for first, last in day_windows(start, end, days_per_run):
        summaries.append(_run_once(defs, pipeline, first, last, instance, log_level))
        if not summaries[-1].success:
            break
    return _merged(summaries, start, end)


def day_windows(start: str, end: str, days: int) -> list[tuple[str, str]]:
    """[start, end] cut into consecutive windows of at most `days` days."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    windows = []
    while first <= last:
        window_end = min(first + timedelta(days=days - 1), last)
        windows.append((first.isoformat(), window_end.isoformat()))
        first = window_end + timedelta(days=1)
    return windows


def _merged(summaries: list[BackfillSummary], start: str, end: str) -> BackfillSummary:
    if len(summaries) == 1:
        return summaries[0]
    merged = BackfillSummary(
        pipeline=summaries[0].pipeline,
        start=start,
        end=end,
        run_id=", ".join(s.run_id for s in summaries),
        success=all(s.success for s in summaries),
        seconds=sum(s.seconds for s in summaries),
    )
    rows: dict[str, int] = defaultdict(int)
    partitions: dict[str, int] = defaultdict(int)
    for summary in summaries:
        for name, count in summary.rows.items():
            # Each run materialises the unpartitioned (reference) tables again, whole.
            rows[name] = rows[name] + count if summary.partitions.get(name) else count
        for name, count in summary.partitions.items():
            partitions[name] += count
        merged.metadata.update(summary.metadata)
        merged.failed_checks += summary.failed_checks
    merged.rows, merged.partitions = dict(rows), dict(partitions)
    return merged


def _run_once(
    defs: Definitions,
    pipeline: str,
    start: str | None,
    end: str | None,
    instance: DagsterInstance,
    log_level: str,
) -> BackfillSummary:
    job = defs.resolve_job_def(ingest_job_name(pipeline))
    begun = time.perf_counter()
    days = None
    if start is not None and end is not None:
        days = {PARTITION_RANGE_START_TAG: start, PARTITION_RANGE_END_TAG: end}
    result = execute_uncaptured(
        job,
        instance=instance,
        tags=days,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
    summary = BackfillSummary(
        pipeline=pipeline,
        start=start,
        end=end,
        run_id=result.run_id,
        success=result.success,
        seconds=time.perf_counter() - begun,
    )
    rows: dict[str, int] = defaultdict(int)
    partitions: dict[str, int] = defaultdict(int)
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = _short(materialization.asset_key)
        metadata: dict[str, object] = {k: v.value for k, v in materialization.metadata.items()}
        row_count = metadata.get("dagster/row_count", 0)
        rows[name] += row_count if isinstance(row_count, int) else 0
        partitions[name] += 1 if materialization.partition else 0
        summary.metadata[name] = metadata
    order = ["raw_", "validated_", "quarantined_", "features"]
    summary.rows = dict(sorted(rows.items(), key=lambda kv: (_rank(kv[0], order), kv[0])))
    summary.partitions = dict(partitions)
    summary.failed_checks = [
        f"{_short(e.asset_key)}.{e.check_name}: {e.description}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    return summary


def _short(key: AssetKey) -> str:
    return key.path[-1]


def _rank(name: str, order: list[str]) -> int:
    return next((i for i, prefix in enumerate(order) if name.startswith(prefix)), len(order))

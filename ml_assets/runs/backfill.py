"""Run a pipeline's ingest job over a range of days as one run, and summarise what it did."""

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from dagster import AssetKey, DagsterInstance, Definitions

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
) -> BackfillSummary:
    """Materialise the pipeline's data and feature assets for [start, end] in one run (a
    static table's, start and end None, whole)."""
    job = defs.resolve_job_def(ingest_job_name(pipeline))
    begun = time.perf_counter()
    days = None
    if start is not None and end is not None:
        days = {PARTITION_RANGE_START_TAG: start, PARTITION_RANGE_END_TAG: end}
    result = job.execute_in_process(
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

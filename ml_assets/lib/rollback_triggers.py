"""Whether the served champion must be rolled back, judged on the live service's own
evidence (`serving.rollback`): its logged request latencies, its live metric on labelled
served traffic, the drift of the days it served. Each trigger that fires names itself,
the figure, the limit and the evidence it was judged on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config.rollback import RollbackConfig
from .experiment import CHAMPION_ARM


@dataclass(frozen=True)
class Trigger:
    """One configured limit that the champion's evidence crossed."""

    name: str
    value: float
    limit: float
    evidence: str

    def describe(self) -> str:
        return f"{self.name} {self.value:.4g} > {self.limit:.4g} ({self.evidence})"


def fired(
    policy: RollbackConfig,
    version: str,
    log: pd.DataFrame,
    performance: pd.DataFrame | None,
    drift_shares: Mapping[str, float],
    days: Sequence[str],
) -> list[Trigger]:
    """The triggers of `policy` that champion `version` crossed over `days`: `log` (the
    days' inference log), `performance` (their `served_performance` rows, if any) and
    `drift_shares` (day -> drifted share of the days judged against `version`)."""
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    found: list[Trigger] = []
    ours = log[(log["arm"] == CHAMPION_ARM) & (log["model_version"].astype(str) == version)]
    requests = ours.drop_duplicates("request_id")["latency_ms"] if len(ours) else pd.Series([])
    if policy.max_p99_ms is not None and len(requests) >= policy.min_requests:
        p99 = float(np.percentile(requests.to_numpy(dtype="float64"), 99))
        if p99 > policy.max_p99_ms:
            found.append(
                Trigger("p99_ms", p99, policy.max_p99_ms, f"{len(requests)} requests, {span}")
            )
    if policy.max_metric_drop is not None and performance is not None and len(performance):
        rows = performance[
            (performance["arm"] == CHAMPION_ARM)
            & (performance["model_version"].astype(str) == version)
            & performance["drop"].notna()
            & (performance["labelled"] > 0)
        ]
        labelled = int(rows["labelled"].sum()) if len(rows) else 0
        if labelled >= policy.min_requests:
            drop = float(np.average(rows["drop"], weights=rows["labelled"]))
            if drop > policy.max_metric_drop:
                metric = str(rows["metric"].iloc[0])
                evidence = f"{metric} on {labelled} labelled served records, {span}"
                found.append(Trigger("metric_drop", drop, policy.max_metric_drop, evidence))
    if policy.max_drift_share is not None and drift_shares:
        day, share = max(drift_shares.items(), key=lambda item: item[1])
        if share > policy.max_drift_share:
            evidence = f"drift_report of {day}, {len(drift_shares)} day(s) judged"
            found.append(Trigger("drift_share", share, policy.max_drift_share, evidence))
    return found


def keep_log_days(base_url: str, pipeline: str, days: Sequence[str], label: str) -> str:
    """Copy the inference log of `days` to `<lake>/<pipeline>/inference_log_kept/<label>/`
    (the evidence of a rollback, kept whatever later happens to the log); the folder."""
    import fsspec

    from .inference_log import day_folder

    target = f"{base_url.rstrip('/')}/{pipeline}/inference_log_kept/{label}"
    fs, _ = fsspec.core.url_to_fs(target)
    for day in days:
        source = day_folder(base_url, pipeline, day)
        if fs.exists(source):
            fs.copy(source, f"{target}/{day}", recursive=True)
    return target

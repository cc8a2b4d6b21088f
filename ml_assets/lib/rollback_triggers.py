"""Whether the served champion must be rolled back, judged on the live service's own
evidence (`serving.rollback`): its logged request latencies, the requests it failed to
score (ml_assets.lib.inference_errors), its live metric on labelled served traffic, the
drift of the days it served. Each trigger that fires names itself,
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


@dataclass(frozen=True)
class DayDrift:
    """A day's drifted share of the served champion, and the asset that judged it:
    `served_drift` (the traffic the service answered) or `drift_report` (the platform's
    own batch scoring of the day)."""

    share: float
    asset: str


def served_version(log: pd.DataFrame, errors: pd.DataFrame | None = None) -> str | None:
    """The champion the service answers with now: the model version of the latest request
    of the `champion` arm, answered (`log`) or failed (`errors`); None without any."""
    frames = [f for f in (log, errors) if f is not None and len(f)]
    if not frames:
        return None
    answered = pd.concat([f[["served_at", "arm", "model_version"]] for f in frames])
    ours = answered[answered["arm"] == CHAMPION_ARM]
    if ours.empty:
        return None
    latest = pd.to_datetime(ours["served_at"], utc=True).to_numpy().argmax()
    return str(ours["model_version"].iloc[latest])


def fired(
    policy: RollbackConfig,
    version: str,
    log: pd.DataFrame,
    performance: pd.DataFrame | None,
    drift_shares: Mapping[str, DayDrift],
    days: Sequence[str],
    errors: pd.DataFrame | None = None,
) -> list[Trigger]:
    """The triggers of `policy` that champion `version` crossed over `days`: `log` (the
    days' inference log), `errors` (their failed requests), `performance` (their
    `served_performance` rows, if any) and `drift_shares` (day -> the drifted share judged
    against `version`, and by which asset)."""
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    found: list[Trigger] = []
    ours = log[(log["arm"] == CHAMPION_ARM) & (log["model_version"].astype(str) == version)]
    requests = ours.drop_duplicates("request_id")["latency_ms"] if len(ours) else pd.Series([])
    rate = _error_rate(policy, version, set(ours["request_id"]), errors, span)
    if rate is not None:
        found.append(rate)
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
        day, judged = max(drift_shares.items(), key=lambda item: item[1].share)
        if judged.share > policy.max_drift_share:
            evidence = f"{judged.asset} of {day}, {len(drift_shares)} day(s) judged"
            found.append(Trigger("drift_share", judged.share, policy.max_drift_share, evidence))
    return found


def _error_rate(
    policy: RollbackConfig,
    version: str,
    answered: set[str],
    errors: pd.DataFrame | None,
    span: str,
) -> Trigger | None:
    """Failed requests of the champion `version` over all its requests (answered or
    failed), when there are `min_requests` of them and the share is over the limit."""
    if policy.max_error_rate is None:
        return None
    failed: set[str] = set()
    if errors is not None and len(errors):
        mine = (errors["arm"] == CHAMPION_ARM) & (errors["model_version"].astype(str) == version)
        failed = set(errors.loc[mine, "request_id"])
    total = len(answered | failed)
    if total < policy.min_requests:
        return None
    rate = len(failed) / total
    if rate <= policy.max_error_rate:
        return None
    evidence = f"{len(failed)} of {total} requests failed, {span}"
    return Trigger("error_rate", rate, policy.max_error_rate, evidence)


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

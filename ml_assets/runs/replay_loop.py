"""Replay days through the whole loop in one process and report what the platform did."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dagster import DagsterInstance, Definitions

from ml_assets.lib.config import PipelineConfig
from ml_assets.runs.loop import SensorLoop
from ml_assets.runs.replay import replay
from sensors.arrival import arrival_sensor_name
from sensors.retrain import retrain_sensor_name

HEADER = f"{'day':<12}{'rows':>6}{'s':>6}  checks (drift, performance) and retraining"
ALERT_SENSORS = ("alert_on_checks_and_decisions", "alert_on_run_failure")


@dataclass
class DayOutcome:
    day: str
    rows: int
    seconds: float
    success: bool
    checks: dict[str, str] = field(default_factory=dict)  # check -> verdict text
    retrain: str = ""
    duplicate: bool = False  # the landed file's run key already had a run: nothing ran

    def lines(self) -> list[str]:
        checks = "; ".join(f"{k}: {v}" for k, v in self.checks.items()) or (
            "already processed: the same file has a run" if self.duplicate else "no checks ran"
        )
        shown = [f"{self.day:<12}{self.rows:>6}{self.seconds:>6.1f}  {checks}"]
        return shown + ([f"{'':<24}retraining: {self.retrain}"] if self.retrain else [])


@dataclass
class LoopSummary:
    days: list[DayOutcome] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [HEADER] + [line for d in self.days for line in d.lines()]
        return "\n".join([*lines, self.footer()])

    def footer(self) -> str:
        failing: dict[str, dict[str, int]] = {}
        for day in self.days:
            for check, verdict in day.checks.items():
                if verdict != "ok":
                    counts = failing.setdefault(check, {})
                    counts[verdict] = counts.get(verdict, 0) + 1
        retrains = sum(1 for d in self.days if d.retrain)
        lines = [
            f"{len(self.days)} day(s) replayed, mean {self.mean_seconds:.1f} s from file to checks",
            "checks not passing (days): "
            + (
                "; ".join(
                    f"{check} " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
                    for check, counts in failing.items()
                )
                or "none"
            ),
            f"retraining runs: {retrains}",
        ]
        lines += [f"decision: {text}" for text in self.decisions] or ["decision: none"]
        return "\n".join(lines)

    @property
    def mean_seconds(self) -> float:
        return sum(d.seconds for d in self.days) / len(self.days) if self.days else 0.0


def replay_through_loop(
    defs: Definitions,
    instance: DagsterInstance,
    config: PipelineConfig,
    days: list[date],
    echo: Callable[[str], None] = lambda _: None,
) -> LoopSummary:
    """For each day: land its file, tick the arrival sensor (its run validates, featurises,
    scores and monitors the day), then the retraining and alerting sensors."""
    loop = SensorLoop(defs, instance)
    sources = (defs.resources or {})["sources"]
    summary = LoopSummary()
    echo(HEADER)
    for day in days:
        started = time.monotonic()
        rows = _land(config, sources, day)
        arrival = loop.tick(arrival_sensor_name(config.name))
        outcome = DayOutcome(day.isoformat(), rows, 0.0, all(r.success for r in arrival.runs))
        outcome.duplicate = bool(arrival.duplicates) and not arrival.runs
        for run in arrival.runs:
            for evaluation in run.get_asset_check_evaluations():
                if evaluation.asset_key.path[-1] in ("drift_report", "live_performance"):
                    status = "ok" if evaluation.passed else str(evaluation.severity.value).lower()
                    outcome.checks[evaluation.check_name] = status
        outcome.seconds = time.monotonic() - started
        for name in ALERT_SENSORS:
            loop.tick(name)
        retrain = loop.tick(retrain_sensor_name(config.name))
        if retrain.runs:
            run = retrain.runs[0]
            outcome.retrain = f"{run.dagster_run.tags.get('mlap/retrain_reason', '')} -> " + (
                "succeeded" if run.success else "FAILED"
            )
            summary.decisions += _decisions(run)
        for name in ALERT_SENSORS:
            loop.tick(name)
        summary.days.append(outcome)
        for line in outcome.lines():
            echo(line)
    return summary


def _land(config: PipelineConfig, sources: Any, day: date) -> int:
    """Land one day's file and return its rows as written (counting the file's lines would
    fit CSV only: JSON Lines have no header, Parquet is binary)."""
    landed: list[int] = []
    replay(config, sources, day, day, on_day=lambda _day, _path, rows: landed.append(rows))
    (rows,) = landed
    return rows


def _decisions(run: Any) -> list[str]:
    found = []
    for event in run.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path[-1] == "champion_model":
            meta = materialization.metadata
            found.append(f"{meta['action'].value}: {meta['reason'].value}")
    return found

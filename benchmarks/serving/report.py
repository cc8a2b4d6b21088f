"""The Markdown report: single-record table, batch table, ratios against the issue's aims."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from benchmarks.serving.inprocess import SCORE_EVENTS, WHOLE
from benchmarks.serving.load import Measurement

BENTOML, FASTAPI, MLFLOW = "BentoML", "FastAPI", "MLflow"
BENTOML_COLUMNAR = f"{BENTOML} columnar"
LOGGED = f"{BENTOML} + inference log"


@dataclass
class Results:
    context: dict[str, str]
    single: dict[str, dict[int, Measurement]] = field(default_factory=dict)
    batch: dict[str, dict[int, Measurement]] = field(default_factory=dict)
    batch_size: int = 1000
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Aim:
    label: str
    values: dict[str, float]
    target: float
    higher_is_better: bool

    def met(self) -> str:
        finite = [v for v in self.values.values() if math.isfinite(v)]
        if not finite:
            return "n/a"
        worst = min(finite) if self.higher_is_better else max(finite)
        ok = worst >= self.target if self.higher_is_better else worst <= self.target
        return "yes" if ok else "no"


def render(results: Results) -> str:
    parts = [
        "# Serving benchmark results",
        _context(results.context),
        "## Single-record requests",
        _single_table(results),
        f"## Batches of {results.batch_size} records",
        _batch_table(results),
        "## Ratios against the aims",
        _aims_table(aims(results)),
        "## Where a single-record request's time goes",
        _breakdown_table(results),
    ]
    return "\n\n".join(parts) + "\n"


def aims(results: Results) -> list[Aim]:
    single, batch = results.single, results.batch
    levels = sorted(single.get(BENTOML, {}))
    b_levels = sorted(batch.get(BENTOML, {}))

    def ratio(a: Measurement | None, b: Measurement | None, metric: str) -> float:
        if a is None or b is None:
            return float("nan")
        if metric == "rate":
            return a.requests_per_s / b.requests_per_s
        return a.percentile_ms(99) / b.percentile_ms(99)

    def by_level(peer: str, metric: str) -> dict[str, float]:
        return {
            f"c={c}": ratio(single[BENTOML].get(c), single.get(peer, {}).get(c), metric)
            for c in levels
        }

    limit = batch.get(SCORE_EVENTS, {}).get(1)
    logged = {
        f"c={c}": ratio(m, single.get(BENTOML, {}).get(c), "rate")
        for c, m in sorted(single.get(LOGGED, {}).items())
    }
    logged_batches = {
        f"c={c}": ratio(m, batch.get(BENTOML, {}).get(c), "rate")
        for c, m in sorted(batch.get(LOGGED, {}).items())
    }
    return [
        Aim(f"{LOGGED} / {BENTOML} requests/s (single records)", logged, 0.9, True),
        Aim(f"{LOGGED} / {BENTOML} rows/s (batches)", logged_batches, 0.9, True),
        Aim("BentoML / FastAPI requests/s", by_level(FASTAPI, "rate"), 0.8, True),
        Aim("BentoML / MLflow requests/s", by_level(MLFLOW, "rate"), 1.5, True),
        Aim("BentoML p99 / FastAPI p99", by_level(FASTAPI, "p99"), 1.5, False),
        Aim(
            "BentoML batch rows/s / in-process score(events)",
            {f"c={c}": ratio(batch[BENTOML][c], limit, "rate") for c in b_levels},
            0.5,
            True,
        ),
        Aim(
            "BentoML columnar / in-process score(events) rows/s",
            {
                f"c={c}": ratio(m, limit, "rate")
                for c, m in sorted(batch.get(BENTOML_COLUMNAR, {}).items())
            },
            0.5,
            True,
        ),
    ]


def _context(context: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in context.items())


def _single_table(results: Results) -> str:
    rows = [
        "| server | concurrency | requests/s | p50 ms | p99 ms | server CPU ms/req "
        "| client CPU ms/req | requests | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, levels in results.single.items():
        for concurrency, m in sorted(levels.items()):
            rows.append(
                f"| {name} | {concurrency} | {m.requests_per_s:,.1f} | {m.percentile_ms(50):.2f} "
                f"| {m.percentile_ms(99):.2f} | {_cpu(m, m.server_cpu_s)} "
                f"| {_cpu(m, m.client_cpu_s)} | {m.requests:,} | {m.errors} |"
            )
    return "\n".join(rows)


def _batch_table(results: Results) -> str:
    rows = [
        "| server | concurrency | rows/s | p50 ms/batch | p99 ms/batch | server CPU ms/batch "
        "| batches | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, levels in results.batch.items():
        for concurrency, m in sorted(levels.items()):
            rows.append(
                f"| {name} | {concurrency} | {m.requests_per_s * results.batch_size:,.0f} "
                f"| {m.percentile_ms(50):.1f} | {m.percentile_ms(99):.1f} "
                f"| {_cpu(m, m.server_cpu_s)} | {m.requests:,} | {m.errors} |"
            )
    return "\n".join(rows)


def _aims_table(rows: list[Aim]) -> str:
    columns = sorted({key for aim in rows for key in aim.values}, key=lambda k: int(k[2:]))
    lines = [
        "| ratio | " + " | ".join(columns) + " | aim | met |",
        "|---|" + "---:|" * len(columns) + "---|---|",
    ]
    for aim in rows:
        cells = [_number(aim.values.get(c, float("nan"))) for c in columns]
        sign = ">=" if aim.higher_is_better else "<="
        lines.append(
            f"| {aim.label} | " + " | ".join(cells) + f" | {sign} {aim.target} | {aim.met()} |"
        )
    return "\n".join(lines)


def _breakdown_table(results: Results) -> str:
    """In-process CPU per step, then each server's CPU per request beyond the scorer's."""
    lines = ["| step | CPU ms per request |", "|---|---:|"]
    lines += [f"| {step} | {ms:.2f} |" for step, ms in results.breakdown.items()]
    scorer = results.single.get(WHOLE, {}).get(1)
    if scorer is None:
        return "\n".join(lines)
    own = scorer.cpu_ms_per_request(scorer.server_cpu_s)
    lines.append(f"| whole in-process path (records -> score) | {own:.2f} |")
    for name in (BENTOML, FASTAPI, MLFLOW):
        for concurrency, m in sorted(results.single.get(name, {}).items()):
            extra = m.cpu_ms_per_request(m.server_cpu_s) - own
            lines.append(f"| {name} server beyond the scorer, c={concurrency} | {_number(extra)} |")
    return "\n".join(lines)


def _cpu(m: Measurement, cpu_s: float) -> str:
    value = m.cpu_ms_per_request(cpu_s)
    return f"{value:.2f}" if math.isfinite(value) else "-"


def _number(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "-"

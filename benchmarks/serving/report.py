"""The Markdown report: single-record table, batch table, ratios against the issue's aims."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from benchmarks.serving.inprocess import SCORE_EVENTS, WHOLE
from benchmarks.serving.load import Measurement

BENTOML, FASTAPI, MLFLOW = "BentoML", "FastAPI", "MLflow"
BENTOML_COLUMNAR = f"{BENTOML} columnar"
LOGGED = f"{BENTOML} + inference log"


# Each (server, concurrency) is measured once per round: a list, in round order.
Rounds = list[Measurement]
Levels = dict[str, dict[int, Rounds]]


@dataclass
class Results:
    context: dict[str, str]
    single: Levels = field(default_factory=dict)
    batch: Levels = field(default_factory=dict)
    batch_size: int = 1000
    breakdown: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def add(levels: Levels, name: str, concurrency: int, measured: Measurement) -> None:
        levels.setdefault(name, {}).setdefault(concurrency, []).append(measured)


@dataclass(frozen=True)
class Aim:
    """A ratio per level, one value per round (round i of one server over round i of the
    other: both measured minutes apart at most), judged on the median."""

    label: str
    values: dict[str, list[float]]
    target: float
    higher_is_better: bool

    def met(self) -> str:
        medians = [_median(v) for v in self.values.values()]
        finite = [m for m in medians if math.isfinite(m)]
        if not finite:
            return "n/a"
        worst = min(finite) if self.higher_is_better else max(finite)
        ok = worst >= self.target if self.higher_is_better else worst <= self.target
        return "yes" if ok else "no"


def render(results: Results, title: str = "# Serving benchmark results") -> str:
    parts = [
        title,
        _context(results.context),
        "## Single-record requests",
        _single_table(results),
        f"## Batches of {results.batch_size} records",
        _batch_table(results),
        "## Ratios against the aims (median of the rounds' ratios, min-max)",
        _aims_table(aims(results)),
        "## Where a single-record request's time goes",
        _breakdown_table(results),
    ]
    return "\n\n".join(parts) + "\n"


def aims(results: Results) -> list[Aim]:
    single, batch = results.single, results.batch
    levels = sorted(single.get(BENTOML, {}))
    b_levels = sorted(batch.get(BENTOML, {}))

    def ratios(
        a: list[Measurement] | None, b: list[Measurement] | None, metric: str
    ) -> list[float]:
        if not a or not b:
            return []
        if metric == "rate":
            return [x.requests_per_s / y.requests_per_s for x, y in zip(a, b, strict=False)]
        return [x.percentile_ms(99) / y.percentile_ms(99) for x, y in zip(a, b, strict=False)]

    def by_level(peer: str, metric: str) -> dict[str, list[float]]:
        return {
            f"c={c}": ratios(single[BENTOML].get(c), single.get(peer, {}).get(c), metric)
            for c in levels
        }

    limit = batch.get(SCORE_EVENTS, {}).get(1)
    logged = {
        f"c={c}": ratios(m, single.get(BENTOML, {}).get(c), "rate")
        for c, m in sorted(single.get(LOGGED, {}).items())
    }
    logged_batches = {
        f"c={c}": ratios(m, batch.get(BENTOML, {}).get(c), "rate")
        for c, m in sorted(batch.get(LOGGED, {}).items())
    }
    return [
        Aim(f"{LOGGED} / {BENTOML} requests/s (single records)", logged, 0.9, True),
        Aim(f"{LOGGED} / {BENTOML} rows/s (batches)", logged_batches, 0.9, True),
        Aim("BentoML / FastAPI requests/s", by_level(FASTAPI, "rate"), 0.9, True),
        Aim("BentoML / MLflow requests/s", by_level(MLFLOW, "rate"), 1.5, True),
        Aim("BentoML p99 / FastAPI p99", by_level(FASTAPI, "p99"), 1.3, False),
        Aim(
            "BentoML batch rows/s / in-process score(events)",
            {f"c={c}": ratios(batch[BENTOML][c], limit, "rate") for c in b_levels},
            0.5,
            True,
        ),
        Aim(
            "BentoML columnar / in-process score(events) rows/s",
            {
                f"c={c}": ratios(m, limit, "rate")
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
        "| server | concurrency | requests/s (median) | min-max | p50 ms | p99 ms | p99 min-max "
        "| server CPU ms/req | client CPU ms/req | requests | errors | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, levels in results.single.items():
        for concurrency, rounds in sorted(levels.items()):
            rate = [m.requests_per_s for m in rounds]
            p99 = [m.percentile_ms(99) for m in rounds]
            rows.append(
                f"| {name} | {concurrency} | {_median(rate):,.1f} | {_spread(rate, '.1f')} "
                f"| {_median([m.percentile_ms(50) for m in rounds]):.2f} | {_median(p99):.2f} "
                f"| {_spread(p99, '.2f')} | {_cpu(rounds, 'server')} | {_cpu(rounds, 'client')} "
                f"| {sum(m.requests for m in rounds):,} | {sum(m.errors for m in rounds)} "
                f"| {_loads(rounds)} |"
            )
    return "\n".join(rows)


def _batch_table(results: Results) -> str:
    rows = [
        "| server | concurrency | rows/s (median) | min-max | p50 ms/batch | p99 ms/batch "
        "| server CPU ms/batch | batches | errors | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    size = results.batch_size
    for name, levels in results.batch.items():
        for concurrency, rounds in sorted(levels.items()):
            rate = [m.requests_per_s * size for m in rounds]
            rows.append(
                f"| {name} | {concurrency} | {_median(rate):,.0f} | {_spread(rate, ',.0f')} "
                f"| {_median([m.percentile_ms(50) for m in rounds]):.1f} "
                f"| {_median([m.percentile_ms(99) for m in rounds]):.1f} "
                f"| {_cpu(rounds, 'server')} | {sum(m.requests for m in rounds):,} "
                f"| {sum(m.errors for m in rounds)} | {_loads(rounds)} |"
            )
    return "\n".join(rows)


def _aims_table(rows: list[Aim]) -> str:
    columns = sorted({key for aim in rows for key in aim.values}, key=lambda k: int(k[2:]))
    lines = [
        "| ratio | " + " | ".join(columns) + " | aim | met |",
        "|---|" + "---:|" * len(columns) + "---|---|",
    ]
    for aim in rows:
        cells = [_ratio_cell(aim.values.get(c, [])) for c in columns]
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
    if not scorer:
        return "\n".join(lines)
    own = _median([m.cpu_ms_per_request(m.server_cpu_s) for m in scorer])
    lines.append(f"| whole in-process path (records -> score) | {own:.2f} |")
    for name in (BENTOML, FASTAPI, MLFLOW):
        for concurrency, rounds in sorted(results.single.get(name, {}).items()):
            server = _median([m.cpu_ms_per_request(m.server_cpu_s) for m in rounds])
            extra = server - own
            lines.append(f"| {name} server beyond the scorer, c={concurrency} | {_number(extra)} |")
    return "\n".join(lines)


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else float("nan")


def _spread(values: list[float], spec: str) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return "-"
    return f"{min(finite):{spec}}-{max(finite):{spec}}"


def _ratio_cell(values: list[float]) -> str:
    median = _median(values)
    if not math.isfinite(median):
        return "-"
    spread = _spread(values, ".2f")
    return f"{median:.2f}" if spread == "-" else f"{median:.2f} ({spread})"


def _cpu(rounds: list[Measurement], side: str) -> str:
    values = [
        m.cpu_ms_per_request(m.server_cpu_s if side == "server" else m.client_cpu_s) for m in rounds
    ]
    value = _median(values)
    return f"{value:.2f}" if math.isfinite(value) else "-"


def _loads(rounds: list[Measurement]) -> str:
    values = [m.load_average for m in rounds if math.isfinite(m.load_average)]
    return f"{_median(values):.1f}" if values else "-"


def _number(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "-"

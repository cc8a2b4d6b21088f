"""The logging BentoML server in shadow mode, for `benchmarks.serving.log_cost --shadow`:
the champion's own model as the challenger, so every request is also scored by a model
of the same cost off the response path (a real challenger costs what its own model costs)
and logged under the `shadow` arm."""

from __future__ import annotations

import dataclasses
import statistics

import httpx

from benchmarks.serving import workload
from benchmarks.serving.load import Measurement
from benchmarks.serving.peers import BIN, LOGGED, Peer, bentoml_peer
from benchmarks.serving.state import Champion

SHADOW = "BentoML + log + shadow"


def shadow_peer(champion: Champion, logged: Peer) -> Peer:
    """The logging server in shadow mode, the champion's own model as the challenger."""
    model = champion.bento.model_tag
    return dataclasses.replace(
        bentoml_peer(
            champion, {**logged.env, "MLAP_INFERENCE_LOG_URL": str(champion.state / "shadow_lake")}
        ),
        name=SHADOW,
        columnar_path=None,
        command=lambda port: [
            *[str(BIN / "bentoml"), "serve", "bentos.service:ChampionService"],
            *["--arg", f"model={model}", "--arg", f"challenger={model}"],
            *["--arg", "experiment=shadow", "--host", "127.0.0.1", "--port", str(port)],
        ],
    )


def shadow_counts(url: str) -> str:
    """The shadow server's `mlap_shadow_requests_total` lines of /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return "\n".join(line for line in text.splitlines() if line.startswith("mlap_shadow"))


def shadow_report(found: dict[tuple[str, int], list[dict[str, Measurement]]], counts: str) -> str:
    """Per level: the three servers' medians, and per round the shadow server's
    throughput and CPU per request against the logging and the plain one."""
    lines = [
        "",
        "### Cost of shadow scoring (same rounds)",
        "",
        "| requests | concurrency | BentoML | + log | + log + shadow (req/s, median) "
        "| shadow / log, per round | median | shadow / BentoML median "
        "| shadow / log server CPU per request, median |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for (kind, concurrency), rounds in found.items():
        per_round = [_ratio(r, LOGGED) for r in rounds]
        name = "1 record" if kind == "single" else f"{workload.BATCH_SIZE} records"
        lines.append(
            f"| {name} | {concurrency} | {_median(rounds, 'BentoML'):,.1f} "
            f"| {_median(rounds, LOGGED):,.1f} "
            f"| {_median(rounds, SHADOW):,.1f} | {', '.join(f'{r:.2f}' for r in per_round)} "
            f"| {statistics.median(per_round):.2f} "
            f"| {statistics.median(_ratio(r, 'BentoML') for r in rounds):.2f} "
            f"| {statistics.median(_cpu(r, SHADOW) / _cpu(r, LOGGED) for r in rounds):.2f} |"
        )
    lines += ["", "The shadow server's /metrics at the end:", "", "```", counts, "```"]
    return "\n".join(lines) + "\n"


def _median(rounds: list[dict[str, Measurement]], name: str) -> float:
    return statistics.median(r[name].requests_per_s for r in rounds)


def _ratio(got: dict[str, Measurement], over: str) -> float:
    return got[SHADOW].requests_per_s / got[over].requests_per_s


def _cpu(got: dict[str, Measurement], name: str) -> float:
    return got[name].cpu_ms_per_request(got[name].server_cpu_s)

"""What the inference log and shadow scoring cost the BentoML server, in interleaved rounds.

    .venv/bin/python -m benchmarks.serving.log_cost --rounds 3 --duration 10

On a shared machine the load of other work drifts by more than the effect measured (a
<10% cost): one server after the other compares two different machines. Here both
servers (the same bento, one with `MLAP_INFERENCE_LOG_URL`) run at once, and each round
measures one, then the other, at each concurrency, in alternating order; the ratio is
taken per round (paired) and the median over rounds reported, with the server CPU per
request, which contention disturbs less than throughput. An idle server costs nothing
while the other is measured.

`--shadow` adds a third server in the same rounds: the logging service in shadow mode
(`--arg experiment=shadow`) with the champion's own model as the challenger, so every
request is also scored by a model of the same cost off the response path and logged
under the `shadow` arm. Its ratios are against the logging server (the cost of shadow
scoring) and against the plain one; /metrics says how many requests were shadow-scored
and how many skipped (a full shadow queue skips rather than delays).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.serving import workload
from benchmarks.serving.load import Load, Measurement, measure
from benchmarks.serving.peers import LOGGED, peers, serving
from benchmarks.serving.run import MAX_REQUESTS, _verify, _warmup
from benchmarks.serving.shadow import SHADOW, shadow_counts, shadow_peer, shadow_report
from benchmarks.serving.state import prepare
from ml_assets.environment import PROJECT_ROOT, TELEMETRY_OFF
from ml_assets.lib.scoring import Scorer

logger = logging.getLogger("benchmarks.serving")
HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.update(TELEMETRY_OFF)
    champion = prepare(args.state)
    scorer = Scorer.from_bundle(champion.bundle)
    records = workload.load_records(champion.validated_flights, scorer, args.records)
    bodies = {
        "single": [_body([r]) for r in records],
        "batch": [_body(b) for b in workload.batches(records)],
    }
    chosen = {p.name: p for p in peers(champion) if p.name in ("BentoML", LOGGED)}
    if args.shadow:
        chosen[SHADOW] = shadow_peer(champion, chosen[LOGGED])
    logs = champion.state / "logs"
    logs.mkdir(exist_ok=True)
    load_before = _load_text()
    rows: dict[tuple[str, int], list[tuple[Measurement, Measurement, float, float]]] = {}
    shadow_rows: dict[tuple[str, int], list[dict[str, Measurement]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(serving(peer, logs / f"cost-{i}.log"))
            for i, (name, peer) in enumerate(chosen.items())
        }
        for name, server in servers.items():
            _verify(name, server.url + "/predict", _body, lambda p: p, scorer, records)
        levels = [("single", c) for c in args.concurrency] + [("batch", 1)]
        for round_ in range(args.rounds):
            for kind, concurrency in levels:
                # Each server first, in the middle and last in turn.
                order = list(chosen)[round_ % len(chosen) :] + list(chosen)[: round_ % len(chosen)]
                got: dict[str, Measurement] = {}
                for name in order:
                    server = servers[name]
                    load = Load(concurrency, args.duration, MAX_REQUESTS)
                    m = measure(
                        server.url + "/predict",
                        bodies[kind],
                        load,
                        warmup_requests=_warmup(concurrency),
                        server_cpu=server.cpu_seconds,
                    )
                    got[name] = m
                    logger.info(
                        "round %d %s c=%d %s: %.1f req/s, server CPU %.2f ms/req",
                        round_ + 1,
                        kind,
                        concurrency,
                        name,
                        m.requests_per_s,
                        m.cpu_ms_per_request(m.server_cpu_s),
                    )
                if SHADOW in got:
                    shadow_rows.setdefault((kind, concurrency), []).append(got)
                plain, logged = got["BentoML"], got[LOGGED]
                rows.setdefault((kind, concurrency), []).append(
                    (
                        plain,
                        logged,
                        logged.requests_per_s / plain.requests_per_s,
                        logged.cpu_ms_per_request(logged.server_cpu_s)
                        / plain.cpu_ms_per_request(plain.server_cpu_s),
                    )
                )
        shadowed = shadow_counts(servers[SHADOW].url) if SHADOW in servers else ""
    own = {
        size: log_cpu_ms(champion.bundle, scorer, records[:size], champion.state / "log_cpu")
        for size in (1, workload.BATCH_SIZE)
    }
    text = _report(rows, args, load_before, champion.bento_tag, own)
    if shadow_rows:
        text += shadow_report(shadow_rows, shadowed)
    args.out.write_text(text)
    print(text)


def log_cpu_ms(
    bundle: Path, scorer: Scorer, records: list[dict[str, Any]], folder: Path, requests: int = 0
) -> float:
    """CPU milliseconds the log spends per request of `len(records)` records, in this
    process: buffering the request as the service does, then building and writing its
    rows (what the worker's log thread does), with the service's own request and
    response models."""
    from bentos.inference_log import InferenceLog
    from bentos.records_input import COLUMNAR_MIN_ROWS
    from bentos.responses import response_shape
    from ml_assets.lib.inference_log import ScoredBatch, log_frame, write_log
    from ml_assets.lib.problems import problem_for
    from ml_assets.lib.record_columns import RecordColumnsValidator
    from ml_assets.lib.request_model import record_model
    from ml_assets.lib.scoring import read_bundle_config

    config = read_bundle_config(bundle)
    shape = response_shape(problem_for(config))
    # The records as /predict validates them: as columns from COLUMNAR_MIN_ROWS on.
    validated: Any = (
        RecordColumnsValidator(config).validate_json(_body(records))
        if len(records) >= COLUMNAR_MIN_ROWS
        else None
    )
    if validated is None:
        model = record_model(config)
        validated = [model.model_validate(r) for r in records]
    scored = scorer.score(scorer.events_frame([vars(r) for r in validated]))
    answers = [shape.prediction.model_validate(p) for p in shape.records(scored, "1")]
    requests = requests or max(20, 20_000 // len(records))

    def write(batches: Any) -> int:
        frame = log_frame(batches, config)
        write_log(str(folder), config.name, frame)
        return len(frame)

    log = InferenceLog(write, flush_seconds=3600.0, max_records=10**9)
    started = time.process_time()
    for _ in range(requests):
        log.append(
            ScoredBatch(
                request_id=uuid.uuid4().hex,
                served_at=datetime.now(UTC),
                route="/predict",
                latency_ms=1.0,
                model_version="1",
                model_tag="benchmark",
                arm="champion",
                rows=len(validated),
                records=validated,
                columns=None,
                outputs=answers,
            )
        )
    log.close()
    spent = time.process_time() - started
    per_request = 1000 * spent / requests
    logger.info("log CPU: %.3f ms per request of %d record(s)", per_request, len(records))
    return per_request


def _body(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"records": records}).encode()


def _report(
    rows: dict[tuple[str, int], list[tuple[Measurement, Measurement, float, float]]],
    args: argparse.Namespace,
    load_before: str,
    bento: str,
    own: dict[int, float],
) -> str:
    lines = [
        "## Cost of the inference log (interleaved rounds)",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, shared",
        f"- load average (1/5/15 min): before {load_before}, after {_load_text()}",
        f"- bento {bento}, every server up at once, one worker each; {args.rounds} rounds of "
        f"{args.duration:g} s per server and level, order rotating; log written every "
        "10 s (the bundle's `serving.inference_log.flush_seconds`)",
        "",
        "| requests | concurrency | BentoML req/s (median) | + log req/s (median) "
        "| throughput ratio per round | median | server CPU ratio per round | median |",
        "|---|---:|---:|---:|---|---:|---|---:|",
    ]
    for (kind, concurrency), found in rows.items():
        plain = statistics.median(p.requests_per_s for p, _, _, _ in found)
        logged = statistics.median(q.requests_per_s for _, q, _, _ in found)
        rates = [r for _, _, r, _ in found]
        cpus = [c for _, _, _, c in found]
        name = "1 record" if kind == "single" else f"{workload.BATCH_SIZE} records"
        lines.append(
            f"| {name} | {concurrency} | {plain:,.1f} | {logged:,.1f} "
            f"| {', '.join(f'{r:.2f}' for r in rates)} | {statistics.median(rates):.2f} "
            f"| {', '.join(f'{c:.2f}' for c in cpus)} | {statistics.median(cpus):.2f} |"
        )
    lines += [
        "",
        "CPU the log itself spends per request, in one process (buffering, rows, Parquet):",
        "",
        "| records per request | log CPU ms per request | BentoML server CPU ms per request "
        "(median of rounds, c=1) | share |",
        "|---:|---:|---:|---:|",
    ]
    for size, spent in own.items():
        kind = "single" if size == 1 else "batch"
        found = rows.get((kind, 1), [])
        server = statistics.median(
            [p.cpu_ms_per_request(p.server_cpu_s) for p, _, _, _ in found] or [float("nan")]
        )
        lines.append(f"| {size} | {spent:.3f} | {server:.2f} | {spent / server:.1%} |")
    return "\n".join(lines) + "\n"


def _load_text() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state", type=Path, default=PROJECT_ROOT / "var" / "benchmarks" / "serving"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(p) for p in s.split(",")], default=[1, 8]
    )
    parser.add_argument("--records", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=HERE / "LOG_COST.md")
    parser.add_argument(
        "--shadow", action="store_true", help="also measure the logging server in shadow mode"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()

"""Schemathesis against a served champion: every answer must conform to the OpenAPI
document the service publishes, and none may be a 5xx.

`run` is shared by the short run in `make test` (tests/test_serving_hardening.py, 50
examples per operation) and the long run here:

    .venv/bin/python -m benchmarks.reliability.fuzz --max-examples 1000 --max-time 300

which serves the benchmark champion (benchmarks/serving/state.py, made once in
`--state`) with `bentoml serve`, runs schemathesis's coverage and fuzzing phases with
the checks in CHECKS, and prints the figures for RESULTS.md. The 5xx count comes from the
server's own /metrics, before and after, so it counts what the server answered, not what
the checks noticed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ml_assets.environment import PROJECT_ROOT

ST = PROJECT_ROOT / ".venv" / "bin" / "st"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    # Data the schema refuses must be refused (strict types, bounds, unknown fields).
    "negative_data_rejection",
)


@dataclass(frozen=True)
class FuzzResult:
    exit_code: int
    generated: int
    failures: list[str]
    seconds: float
    server_errors: int  # 5xx answers counted by the server's /metrics during the run
    output: str


def run(
    url: str, max_examples: int, seed: int, workdir: Path, max_time: float | None = None
) -> FuzzResult:
    """One schemathesis run against `url` (the served champion), with its report in
    `workdir`; with `max_time`, fuzzing repeats until that many seconds are spent (without,
    it stops when hypothesis has nothing new to try within `max_examples`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = workdir / "schemathesis.json"
    before = counted_answers(url, "5")
    command = [
        *[str(ST), "run", f"{url}/docs.json", "--checks", ",".join(CHECKS)],
        *["--max-examples", str(max_examples), "--seed", str(seed), "-w", "1"],
        *([] if max_time is None else ["--max-time", str(int(max_time))]),
        *["--phases", "examples,coverage,fuzzing", "--generation-database", "none"],
        *["--report", "json", "--report-json-path", str(report)],
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    summary = json.loads(report.read_text())
    return FuzzResult(
        exit_code=done.returncode,
        generated=int(summary["test_cases"]["generated"]),
        failures=[json.dumps(f)[:500] for f in summary["failures"]],
        seconds=float(summary["running_time"]),
        server_errors=counted_answers(url, "5") - before,
        output=done.stdout[-5000:],
    )


def counted_answers(url: str, status_prefix: str, endpoint: str | None = None) -> int:
    """The answers whose status starts with `status_prefix` (to `endpoint`, or to any
    path) that BentoML's request counter on the server's /metrics holds so far."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "bentoml_service_request_total"
            and sample.labels.get("http_response_code", "").startswith(status_prefix)
            and endpoint in (None, sample.labels.get("endpoint"))
        )
    )


def main(argv: list[str] | None = None) -> None:
    from benchmarks.reliability.served import served_champion

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--max-time", type=float, default=300)
    parser.add_argument("--state", type=Path, default=Path("/tmp/mlap-bench-reliability"))
    arguments = parser.parse_args(argv)
    with served_champion(arguments.state) as url:
        result = run(
            url,
            arguments.max_examples,
            arguments.seed,
            arguments.state / "fuzz",
            arguments.max_time,
        )
    print(result.output)
    print(
        f"| {arguments.max_examples} | {arguments.max_time:.0f} s | {arguments.seed} | "
        f"{result.generated} | "
        f"{len(result.failures)} | {result.server_errors} | {result.seconds:.0f} s |"
    )
    for failure in result.failures:
        print(failure)
    sys.exit(result.exit_code)


if __name__ == "__main__":
    main()

"""Hostile request bodies against a served champion: each must be a 4xx, quickly, and
leave the server ready with its memory where it was (issue 16).

The bodies are built for any pipeline from one valid record: 10,000-level nesting (as the
body and inside a value), a 100,000-digit integer, 1e400, NaN and -Infinity literals, a
megabyte string and a megabyte key, a 50 MB body, and a gzip bomb (50 MB of JSON
whitespace in ~50 KB, sent with `Content-Encoding: gzip`). `tests/test_serving_hardening.py`
sends them to the session's server and checks the answers; this script times them against
any running server and reports its memory (the process tree's RSS) before and after:

    python -m benchmarks.reliability.hostile_bodies --url http://127.0.0.1:3000
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

JSON = {"content-type": "application/json"}
DEPTH = 10_000


@dataclass(frozen=True)
class HostileBody:
    name: str
    content: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    name: str
    status: int
    seconds: float
    request_bytes: int
    response_bytes: int


def hostile_bodies(record: dict[str, Any]) -> list[HostileBody]:
    """The hostile bodies for `/predict`, built around a valid `record`."""
    number = next((k for k, v in record.items() if isinstance(v, int | float)), None)
    text = next((k for k, v in record.items() if isinstance(v, str)), None)

    def records_with(raw_value: str | None = None, **changes: Any) -> bytes:
        body = json.dumps({"records": [{**record, **changes}]})
        if raw_value is not None and number is not None:
            # A value that json.dumps would not write (a bare literal): put it in by hand.
            body = body.replace(f'"{number}": {json.dumps(record[number])}', f'"{number}": X', 1)
            body = body.replace('": X', f'": {raw_value}', 1)
        return body.encode()

    nested = "[" * DEPTH + "]" * DEPTH
    bodies = [
        HostileBody("nesting 10,000 deep", f'{{"records": {nested}}}'.encode(), JSON),
        HostileBody("nesting 10,000 deep in a value", records_with(nested), JSON),
        HostileBody("integer of 100,000 digits", records_with("9" * 100_000), JSON),
        HostileBody("1e400", records_with("1e400"), JSON),
        HostileBody("NaN literal", records_with("NaN"), JSON),
        HostileBody("-Infinity literal", records_with("-Infinity"), JSON),
        HostileBody("megabyte key", records_with(**{"k" * 1_000_000: 1}), JSON),
        HostileBody("50 MB body", b'{"records": [' + b" " * 50_000_000 + b"]}", JSON),
        HostileBody(
            "gzip bomb (50 MB inflated)",
            gzip.compress(b'{"records": [' + b" " * 50_000_000 + b"]}"),
            {**JSON, "content-encoding": "gzip"},
        ),
    ]
    if text is not None:
        bodies.append(HostileBody("megabyte string", records_with(**{text: "A" * 1_000_000}), JSON))
    return bodies


def send(url: str, body: HostileBody, route: str = "/predict") -> Answer:
    begun = time.perf_counter()
    response = httpx.post(f"{url}{route}", content=body.content, headers=body.headers, timeout=60)
    return Answer(
        body.name,
        response.status_code,
        time.perf_counter() - begun,
        len(body.content),
        len(response.content),
    )


def server_rss_mib(url: str) -> float:
    """RSS of the `bentoml serve` process listening at `url` and its children, in MiB."""
    import psutil

    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if "serve" in argv and "--port" in argv and argv[argv.index("--port") + 1] == port:
            tree = [process, *process.children(recursive=True)]
            return sum(p.memory_info().rss for p in tree) / 2**20
    raise LookupError(f"no bentoml serve process with --port {port}")


def example_record(url: str) -> dict[str, Any]:
    """A valid record from the published OpenAPI: each field's first example."""
    spec = httpx.get(f"{url}/docs.json", timeout=10).json()
    items = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    ref = items["schema"]["properties"]["records"]["items"]["$ref"].rsplit("/", 1)[1]
    properties = spec["components"]["schemas"][ref]["properties"]
    return {name: field["examples"][0] for name, field in properties.items() if "examples" in field}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    record = example_record(args.url)
    valid = httpx.post(f"{args.url}/predict", json={"records": [record]}, timeout=30)
    if valid.status_code != 200:
        raise SystemExit(f"the example record is refused: {valid.status_code} {valid.text[:300]}")
    before = server_rss_mib(args.url)
    answers: dict[str, list[Answer]] = {}
    for _ in range(args.rounds):
        for body in hostile_bodies(record):
            answers.setdefault(body.name, []).append(send(args.url, body))
    ready = httpx.get(f"{args.url}/readyz", timeout=10).status_code
    after = server_rss_mib(args.url)
    print(
        "| body | request bytes | statuses | slowest s | response bytes |\n|---|---:|---|---:|---:|"
    )
    for name, rounds in answers.items():
        statuses = ", ".join(sorted({str(a.status) for a in rounds}))
        print(
            f"| {name} | {rounds[0].request_bytes:,} | {statuses} "
            f"| {max(a.seconds for a in rounds):.3f} | {rounds[0].response_bytes:,} |"
        )
    print(f"\n/readyz after: {ready}; server RSS {before:.0f} MiB before, {after:.0f} MiB after")


if __name__ == "__main__":
    main()

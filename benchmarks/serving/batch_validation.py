"""1000-record batches on /predict: this tree's service against another checkout's, in turns.

Issue 18's batch aim compares `/predict` with the in-process `score(events)`. This script
serves the same champion model twice, with `bentoml serve bentos.service:ChampionService`
run from this tree and from `--before` (a checkout of the code to compare with, e.g.
`git archive <commit> | tar -x -C DIR`), and measures, in `--rounds` rounds whose order
rotates, each server's rows/s on batches of 1000 real records at concurrency 1 and the
in-process `scorer.score(events)` on the same batches. It prints a Markdown table of
medians with their min-max, the per-round ratios, and the load average.

    .venv/bin/python -m benchmarks.serving.batch_validation --state /tmp/sbench \\
        --before /tmp/before --rounds 5 --duration 5

The state is a benchmark state made by `benchmarks.serving.run` (its champion's model is
read, not changed: the servers get a BentoML home of their own that links its models).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.serving.inprocess import SCORE_EVENTS, stages, time_calls
from benchmarks.serving.load import Load, Measurement, measure
from benchmarks.serving.peers import BIN, Server, _free_port, _stop, _wait_ready
from benchmarks.serving.state import PIPELINE, _refs_base, platform_env
from benchmarks.serving.workload import batches, load_records
from ml_assets.environment import PROJECT_ROOT
from ml_assets.lib.refs import BentoRef
from ml_assets.lib.scoring import Scorer
from resources.refs import read_ref


@contextlib.contextmanager
def serving(code: Path, model_tag: str, state: Path, home: Path, log: Path) -> Iterator[Server]:
    """`bentoml serve` of the service module of `code` for `model_tag`."""
    port = _free_port()
    env = platform_env(state) | {"BENTOML_HOME": str(home), "PYTHONPATH": str(code)}
    env.pop("MLAP_INFERENCE_LOG_URL", None)
    env.pop("MLAP_API_KEY", None)
    command = [str(BIN / "bentoml"), "serve", "bentos.service:ChampionService"]
    command += ["--arg", f"model={model_tag}", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=code
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server, "/readyz", log)
        yield server
    finally:
        _stop(process)


def _own_home(state: Path, home: Path) -> Path:
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(state / "bentoml" / "models", target_is_directory=True)
    return home


def _summary(name: str, runs: list[Measurement]) -> str:
    rows = [m.requests * 1000 / m.elapsed_s for m in runs]
    cpu = [m.server_cpu_s * 1000 / m.requests for m in runs]
    p50 = [m.percentile_ms(50) for m in runs]
    loads = [m.load_average for m in runs]
    return (
        f"| {name} | {statistics.median(rows):,.0f} | {min(rows):,.0f}-{max(rows):,.0f} "
        f"| {statistics.median(p50):.1f} | {statistics.median(cpu):.1f} "
        f"| {min(loads):.1f}-{max(loads):.1f} | {sum(m.requests for m in runs)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, default=Path("/tmp/sbench"))
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/batch-validation-bench"))
    args = parser.parse_args()
    state = args.state.resolve()
    bento: BentoRef = read_ref(str(_refs_base(state)), [PIPELINE, "champion_bento"])
    home = _own_home(state, args.work / "bentoml")
    os.environ["BENTOML_HOME"] = str(home)
    import bentoml

    scorer = Scorer.from_bundle(Path(bentoml.models.get(bento.model_tag).path))
    inputs = batches(load_records(state / "lake" / PIPELINE / "validated_flights", scorer, 6000))
    bodies = [json.dumps({"records": batch}).encode() for batch in inputs]
    load = Load(concurrency=1, duration_s=args.duration, max_requests=100_000)
    results: dict[str, list[Measurement]] = {"before": [], "after": [], SCORE_EVENTS: []}
    codes = {"before": args.before.resolve(), "after": PROJECT_ROOT}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                serving(code, bento.model_tag, state, home, args.work / f"{name}.log")
            )
            for name, code in codes.items()
        }
        answers = {
            n: httpx.post(
                f"{s.url}/predict",
                content=bodies[0],
                timeout=60,
                headers={"content-type": "application/json"},
            )
            for n, s in servers.items()
        }
        # The same JSON values (the writer may differ: /predict's answer has no spaces since
        # bentos/json_output.py).
        assert answers["before"].json() == answers["after"].json(), "the servers disagree"
        score = next(stage for stage in stages(scorer) if stage.name == SCORE_EVENTS)
        order = ["before", "after", SCORE_EVENTS]
        for round_ in range(args.rounds):
            for name in order[round_ % 3 :] + order[: round_ % 3]:
                if name == SCORE_EVENTS:
                    run = time_calls(score, inputs, load)
                else:
                    server = servers[name]
                    url = f"{server.url}/predict"
                    run = measure(url, bodies, load, 10, server.cpu_seconds)
                assert run.errors == 0, (name, run.errors)
                run = Measurement(**{**vars(run), "load_average": os.getloadavg()[0]})
                results[name].append(run)
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"- rounds: {args.rounds} x {args.duration:g} s per level, order rotated; c=1")
    print("\n| what | rows/s (median) | min-max | p50 ms/batch | CPU ms/batch | load | batches |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        print(_summary(name, runs))
    for name in ("before", "after"):
        ratios = [
            a.requests / a.elapsed_s / (b.requests / b.elapsed_s)
            for a, b in zip(results[name], results[SCORE_EVENTS], strict=True)
        ]
        print(
            f"\n{name} / score(events): median {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()

"""The example use cases on their whole data, the way a user runs them: export, backfill,
train, with the platform's own CLI in a fresh state folder each.

For each example: `mlap backfill` over its whole span (a static table: whole), then `mlap
train` with the YAML's windows and trial budget; the training summary (every candidate's
validation, fold and test scores, the champion's test metrics next to the baselines) is
written to `benchmarks/examples/RESULTS.md`. Run:

    python -m benchmarks.examples [name ...]

Names: vic_electricity (regression), pizza_sizes (multiclass), breast_cancer (static
table). Each takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "benchmarks" / "examples" / "RESULTS.md"


@dataclass(frozen=True)
class Example:
    name: str
    what: str
    export: str | None  # script under configs/datasets/, when the package's form needs one
    span: tuple[str, str] | None  # days to backfill; None for a static table
    folder: str = ""  # where the YAML reads the export, under <state>/datasets/


EXAMPLES = {
    e.name: e
    for e in (
        Example(
            "vic_electricity",
            "regression",
            "vic_electricity_export.py",
            ("2014-01-01", "2014-12-31"),
        ),
        Example(
            "pizza_sizes",
            "multiclass",
            "pizzaplace_export.py",
            ("2015-01-01", "2015-12-31"),
            folder="pizzaplace",
        ),
        Example("breast_cancer", "binary, static table", None, None),
    )
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(EXAMPLES)} (default: all)")
    args = parser.parse_args()
    names = args.names or list(EXAMPLES)
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; known: {', '.join(EXAMPLES)}")
    sections = [run(EXAMPLES[name]) for name in names]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Example use cases on their whole data\n\n"
        f"`python -m benchmarks.examples {' '.join(names)}`, run {date.today()} on a "
        "2-core machine; each example in a fresh state folder with the platform's CLI.\n"
    )
    RESULTS.write_text(header + "".join(sections))
    print(f"wrote {RESULTS.relative_to(PROJECT_ROOT)}")


def run(example: Example) -> str:
    with tempfile.TemporaryDirectory(prefix=f"mlap-{example.name}-") as state:
        env = {
            **os.environ,
            "MLAP_STATE_DIR": state,
            "MLAP_PIPELINES_DIR": str(PROJECT_ROOT / "configs" / "examples"),
            "DAGSTER_HOME": str(Path(state) / "dagster_home"),
        }
        if example.export:
            script = PROJECT_ROOT / "configs" / "datasets" / example.export
            out = Path(state) / "datasets" / (example.folder or example.name)
            _step(
                env, [sys.executable, "-m", "uv", "run", "--script", str(script), "--out", str(out)]
            )
        span = ["--start", example.span[0], "--end", example.span[1]] if example.span else []
        backfill, backfill_seconds = _step(env, [*_mlap(), "backfill", example.name, *span])
        training, training_seconds = _step(env, [*_mlap(), "train", example.name])
    return (
        f"\n## {example.name} ({example.what})\n\n"
        f"Backfill {backfill_seconds:.0f} s, training {training_seconds:.0f} s.\n\n"
        f"```\n{_last_lines(backfill, 3)}\n\n{training.strip()}\n```\n"
    )


def _mlap() -> list[str]:
    return [str(Path(sys.executable).parent / "mlap")]


def _step(env: dict[str, str], command: list[str]) -> tuple[str, float]:
    print("$", " ".join(command[-4:]), flush=True)
    begun = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - begun
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout, seconds


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


if __name__ == "__main__":
    main()

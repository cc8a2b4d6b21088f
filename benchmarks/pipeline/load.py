"""What loading the platform's code location costs over importing Dagster itself.

Each measurement is a fresh Python process (imports are cached within one), alternating
the two so that a load spike on the machine hits both: `import dagster` against building
every pipeline's Definitions the way the webserver, the daemon and `mlap` do. Run:

    python -m benchmarks.pipeline.load [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PEERS = {
    "import dagster": "import dagster",
    "load the code location": (
        "from ml_assets.definitions import build_definitions; build_definitions()"
    ),
}


def seconds(code: str) -> float:
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    begun = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, check=True)
    return time.perf_counter() - begun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in PEERS}
    for _ in range(args.repeats):
        for name, code in PEERS.items():
            samples[name].append(seconds(code))
    base = statistics.median(samples["import dagster"])
    load = os.getloadavg()[0]
    print(f"\n{args.repeats} fresh processes each, alternating; load average {load:.1f}\n")
    print("| what | median s | min-max s | over `import dagster` |")
    print("|---|---|---|---|")
    for name, values in samples.items():
        median = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"| {name} | {median:.2f} | {spread} | +{median - base:.2f} s |")


if __name__ == "__main__":
    main()

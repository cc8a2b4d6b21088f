"""The `mlap` CLI as users run it: a real process, real exit codes."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

MLAP = str(Path(sys.executable).parent / "mlap")


def run_mlap(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLAP_STATE_DIR": str(state)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [MLAP, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_backfill_of_two_days_persists_in_the_state_folder(tmp_path: Path) -> None:
    done = run_mlap(
        "backfill", "flight_delays", "--start", "2013-02-01", "--end", "2013-02-02", state=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(2 days) succeeded" in done.stdout
    assert "raw_flights" in done.stdout and "features" in done.stdout
    assert (tmp_path / "dagster_home" / "dagster.yaml").exists()
    assert "enabled: false" in (tmp_path / "dagster_home" / "dagster.yaml").read_text()
    assert sorted(p.name for p in (tmp_path / "lake" / "flight_delays" / "features").iterdir()) == [
        "2013-02-01.parquet",
        "2013-02-02.parquet",
    ]


def test_unknown_pipeline_and_day_are_clear_errors(tmp_path: Path) -> None:
    unknown = run_mlap("backfill", "no_such_pipeline", state=tmp_path)
    assert unknown.returncode == 2
    assert "unknown pipeline 'no_such_pipeline'; known: flight_delays" in unknown.stderr
    outside = run_mlap("backfill", "flight_delays", "--start", "2014-01-01", state=tmp_path)
    assert outside.returncode == 2
    assert (
        "--start 2014-01-01 is not a partition of flight_delays (2013-01-01..2013-12-31)"
        in outside.stderr
    )

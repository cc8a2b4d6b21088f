"""The `mlap` CLI as users run it: a real process, real exit codes; and in process through
typer's CliRunner where a real process adds nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from dagster import AssetKey, DagsterInvalidDefinitionError, Definitions, asset, define_asset_job
from typer.testing import CliRunner

from ml_assets.cli.main import _job, app
from ml_assets.environment import TELEMETRY_OFF
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


def test_unknown_pipeline_exits_2_with_the_known_ones_in_process() -> None:
    # The CLI's setup sets these variables; passed to invoke, CliRunner restores them.
    env = {name: os.environ.get(name) for name in (*TELEMETRY_OFF, "DAGSTER_HOME")}
    result = CliRunner().invoke(app, ["backfill", "no_such_pipeline"], env=env)
    assert result.exit_code == 2, result.output
    assert "unknown pipeline 'no_such_pipeline'; known: flight_delays" in result.stderr


def test_a_job_that_exists_but_cannot_be_built_is_not_an_unknown_pipeline() -> None:
    @asset
    def present() -> int:
        return 1

    defs = Definitions(
        assets=[present],
        jobs=[
            define_asset_job("good__ingest", [present]),
            define_asset_job("broken__ingest", [AssetKey("absent")]),
        ],
    )
    assert _job(defs, "good__ingest", "good").name == "good__ingest"
    with pytest.raises(typer.Exit) as unknown:
        _job(defs, "nothing__ingest", "nothing")
    assert unknown.value.exit_code == 2
    with pytest.raises(DagsterInvalidDefinitionError, match="resolve asset job broken__ingest"):
        _job(defs, "broken__ingest", "broken")

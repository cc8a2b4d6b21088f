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

from ml_assets.cli.jobs import resolve_job
from ml_assets.cli.main import app
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
    assert resolve_job(defs, "good__ingest", "good").name == "good__ingest"
    with pytest.raises(typer.Exit) as unknown:
        resolve_job(defs, "nothing__ingest", "nothing")
    assert unknown.value.exit_code == 2
    with pytest.raises(DagsterInvalidDefinitionError, match="resolve asset job broken__ingest"):
        resolve_job(defs, "broken__ingest", "broken")


BROKEN_YAML = """
extends: {base}
name: broken_copy
training:
  train_days: -3
"""


@pytest.fixture
def pipelines_with_a_broken_file(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    source = PROJECT_ROOT / "configs" / "pipelines"
    for name in ("_defaults.yaml", "flight_delays.yaml"):
        (folder / name).write_text((source / name).read_text())
    (folder / "broken_copy.yaml").write_text(BROKEN_YAML.format(base="flight_delays.yaml"))
    return folder


def test_one_broken_pipeline_file_leaves_the_others_loaded(
    pipelines_with_a_broken_file: Path,
) -> None:
    from ml_assets.definitions import build_definitions

    defs = build_definitions(pipelines_with_a_broken_file)
    jobs = {j.name for j in defs.jobs or []}
    assert "flight_delays__train" in jobs and not any(j.startswith("broken_copy") for j in jobs)
    listed = str(defs.metadata["broken_pipeline_files"].value)
    assert "broken_copy.yaml" in listed and "training.train_days" in listed


def test_mlap_check_names_the_broken_file_and_key(pipelines_with_a_broken_file: Path) -> None:
    env = {**TELEMETRY_OFF, "MLAP_PIPELINES_DIR": str(pipelines_with_a_broken_file)}
    result = CliRunner().invoke(app, ["check"], env=env)
    assert result.exit_code == 1
    assert "ok      flight_delays" in result.output
    assert "BROKEN  broken_copy.yaml" in result.output and "training.train_days" in result.output
    alone = CliRunner().invoke(app, ["check", "flight_delays"], env=env)
    assert alone.exit_code == 0, alone.output


def test_every_pipeline_file_of_the_repository_checks() -> None:
    result = CliRunner().invoke(app, ["check"], env=dict(TELEMETRY_OFF))
    assert result.exit_code == 0, result.output
    assert "ok      flight_delays" in result.output

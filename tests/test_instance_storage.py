"""Tier 3: the local instance's event log keeps its connections and loses nothing."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster import AssetExecutionContext

from ml_assets.dagster_private import SqliteEventLogStorage
from ml_assets.environment import PROJECT_ROOT
from ml_assets.instance_storage import OPEN_DATABASES, PooledSqliteEventLogStorage
from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

DAYS = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2013-01-21")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def counted(context: AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset_check(asset=counted)
def counted_is_fine() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A DAGSTER_HOME with the project's local dagster.yaml, as `make` makes it."""
    shutil.copyfile(PROJECT_ROOT / "configs/dagster/local.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    yield tmp_path


def _run_all_days(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [counted, counted_is_fine],
        instance=instance,
        tags={PARTITION_RANGE_START_TAG: "2013-01-01", PARTITION_RANGE_END_TAG: "2013-01-20"},
    )


def _open_databases(folder: Path) -> list[str]:
    """The database files under `folder` this process holds open."""
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(str(fd.readlink()))
        except OSError:
            continue
    return [t for t in targets if t.startswith(str(folder)) and t.endswith(".db")]


def test_the_local_instance_writes_every_event_where_another_process_reads_it(home: Path) -> None:
    instance = dg.DagsterInstance.get()
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    result = _run_all_days(instance)
    assert result.success
    # A fresh instance on the same files (as the webserver or the daemon would be) sees
    # every partition's materialization, the check and the run's success.
    reader = dg.DagsterInstance.from_config(str(home))
    materialized = reader.get_materialized_partitions(dg.AssetKey("counted"))
    assert materialized == set(DAYS.get_partition_keys()[:20])
    check = reader.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("counted"), "counted_is_fine")]
    )
    assert len(check) == 1
    run = reader.get_run_by_id(result.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    # Dagster's own class reads the same files: an instance can switch back.
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    kinds = {e.dagster_event_type for e in stock.get_logs_for_run(result.run_id)}
    assert {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.RUN_SUCCESS} <= kinds


def test_open_databases_stay_bounded_and_a_wipe_starts_clean(home: Path) -> None:
    instance = dg.DagsterInstance.get()
    runs_dir = home / "history" / "runs"
    for _ in range(OPEN_DATABASES + 4):
        assert _run_all_days(instance).success
    # The index plus at most OPEN_DATABASES run databases, whatever the runs so far.
    assert 1 < len(set(_open_databases(runs_dir))) <= OPEN_DATABASES + 1
    instance.wipe()
    assert {Path(p).name for p in _open_databases(runs_dir)} == {"index.db"}
    assert instance.get_materialized_partitions(dg.AssetKey("counted")) == set()
    again = _run_all_days(instance)
    assert again.success
    assert len(instance.get_materialized_partitions(dg.AssetKey("counted"))) == 20


def test_an_instance_of_another_folder_keeps_its_events_there(
    home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """As Dagster's default does: the event log is the instance's, whatever DAGSTER_HOME."""
    other = tmp_path_factory.mktemp("other_home")
    shutil.copyfile(home / "dagster.yaml", other / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(other)) as instance:
        result = _run_all_days(instance)
    assert result.success
    assert (other / "history" / "runs" / f"{result.run_id}.db").is_file()
    assert not (home / "history" / "runs").exists()

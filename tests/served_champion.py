"""The flight delays champion trained once and served once by a real `bentoml serve`, for
the whole session: tests/test_serving.py and tests/test_serving_hardening.py share them
(a pytest plugin, registered in tests/conftest.py, so both get the same instances)."""

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance

from ml_assets.keys import predict_job_name
from tests.helpers import run_days
from tests.processes import free_port, running, wait_ready
from tests.test_model_lifecycle import XGBOOST, Lifecycle

BENTOML = str(Path(sys.executable).parent / "bentoml")
DAYS = ["2013-03-17", "2013-03-18"]


def bento_rows(result: Any) -> dict[str, Any]:
    (mat,) = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "champion_bento"
    ]
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture(scope="session")
def served(flight_config, tmp_path_factory) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    state = tmp_path_factory.mktemp("serving")
    with DagsterInstance.ephemeral() as instance:
        life = Lifecycle(flight_config, state, instance)
        assert run_days(
            life.defs(flight_config), "flight_delays", "2013-03-01", "2013-03-18", instance
        ).success
        first = life.train(XGBOOST)
        assert first.success
        again = life.train(XGBOOST)  # same data, same seed: the champion is kept
        assert again.success
        config = flight_config.model_copy(update={"training": None})
        predict = life.defs(flight_config).resolve_job_def(predict_job_name("flight_delays"))
        from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

        predicted = predict.execute_in_process(
            instance=instance,
            tags={
                PARTITION_RANGE_START_TAG: DAYS[0],
                PARTITION_RANGE_END_TAG: DAYS[-1],
            },
        )
        assert predicted.success
        yield {
            "state": state,
            "config": config,
            "first": bento_rows(first) | {"bento_path": _bento_path(first)},
            "again": bento_rows(again),
            "champion": life.alias("champion"),
            "threshold": life.registry.by_alias("flight_delays", "champion").threshold,  # type: ignore[union-attr]
            # The instance that holds the materialisations, for a test that trains again.
            "lifecycle": life,
        }


def _bento_path(result: Any) -> str:
    import bentoml

    return str(bentoml.bentos.get(str(bento_rows(result)["bento_tag"])).path)


@contextmanager
def bentoml_server(
    target: str, log: Path, arguments: tuple[str, ...] = (), **env: str
) -> Iterator[str]:
    port = free_port()
    environ = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "BENTOML_HOME": str(_own_home(log.parent / f"bentoml-home-{port}")),
        **env,
    }
    argv = [BENTOML, "serve", target, *arguments, "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(argv, environ, Path(__file__).resolve().parents[1], log) as process:
        wait_ready(url, log, time.monotonic() + 120, path="/livez", process=process)
        yield url


def _own_home(home: Path) -> Path:
    """A BentoML home of its own that shares the session's bentos and models: every
    `bentoml serve` empties `<home>/prometheus_multiproc_dir` at start, which wipes the
    /metrics of a server already running on the same home."""
    home.mkdir(parents=True)
    shared = Path(os.environ["BENTOML_HOME"])
    for folder in ("bentos", "models"):
        (shared / folder).mkdir(parents=True, exist_ok=True)
        (home / folder).symlink_to(shared / folder, target_is_directory=True)
    return home


def records(state: Path, day: str) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    from ml_assets.lifecycle.packaging import example_record  # noqa: F401  (same serialisation rules)

    rows = pd.read_parquet(
        state / "lake" / "flight_delays" / "validated_flights" / f"{day}.parquet"
    )
    columns = [
        "year",
        "month",
        "day",
        "sched_dep_time",
        "sched_arr_time",
        "carrier",
        "flight",
        "tailnum",
        "origin",
        "dest",
        "distance",
        "hour",
        "minute",
        "time_hour",
    ]
    out = json.loads(rows[columns].to_json(orient="records", date_format="iso"))
    return out, rows


def as_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Records as the columnar request body's `columns`: one list per field."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def first_thousand(state: Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """1000 real records of DAYS and their rows of the offline batch predictions."""
    sent: list[dict[str, Any]] = []
    expected = []
    for day in DAYS:
        day_records, _ = records(state, day)
        batch = pd.read_parquet(
            state / "lake" / "flight_delays" / "batch_predictions" / f"{day}.parquet"
        )
        assert len(batch) == len(day_records)
        sent += day_records
        expected.append(batch)
    return sent[:1000], pd.concat(expected, ignore_index=True).head(1000)


@pytest.fixture(scope="session")
def server_log(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """Where the session's `bentoml serve` (the `server` fixture) writes its output."""
    return tmp_path_factory.mktemp("logs") / "serve.log"  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def server(served: dict[str, Any], server_log: Path) -> Iterator[str]:
    with bentoml_server(served["first"]["bento_tag"], server_log) as url:
        wait_ready(url, server_log, time.monotonic() + 60)
        yield url

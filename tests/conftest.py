"""Shared fixtures. Every test session gets its own state folder, never the project's var/."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_SESSION_STATE = Path(tempfile.mkdtemp(prefix="mlap-test-"))
os.environ["MLAP_STATE_DIR"] = str(_SESSION_STATE)
os.environ["DAGSTER_HOME"] = str(_SESSION_STATE / "dagster_home")
os.environ["BENTOML_HOME"] = str(_SESSION_STATE / "bentoml")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
(_SESSION_STATE / "dagster_home").mkdir(parents=True, exist_ok=True)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The champion served once for the session (loaded after the environment above is set).
pytest_plugins = ["tests.served_champion"]
FLIGHT_DELAYS_YAML = PROJECT_ROOT / "configs" / "pipelines" / "flight_delays.yaml"


# Modules that share a session fixture run on one xdist worker, so that it is built once.
SHARED_FIXTURE_GROUPS = {
    "tests.test_serving": "served_champion",
    "tests.test_serving_hardening": "served_champion",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `pytest -n N --dist loadgroup` (make test) a test module is one unit of work:
    its module fixtures (a trained pipeline, a server) are built once, on one worker."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module.__name__ if item.module else item.nodeid  # type: ignore[attr-defined]
            item.add_marker(pytest.mark.xdist_group(SHARED_FIXTURE_GROUPS.get(module, module)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_STATE, ignore_errors=True)


@pytest.fixture(scope="session")
def flight_config():  # type: ignore[no-untyped-def]
    from ml_assets.lib.config import load_pipeline_config

    return load_pipeline_config(FLIGHT_DELAYS_YAML)


@pytest.fixture
def instance() -> Iterator[object]:
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"

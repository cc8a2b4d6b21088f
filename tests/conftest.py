"""Shared fixtures. Every test session gets its own state folder, never the project's var/."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SESSION_STATE = Path(tempfile.mkdtemp(prefix="mlap-test-"))
os.environ["MLAP_STATE_DIR"] = str(_SESSION_STATE)
os.environ["DAGSTER_HOME"] = str(_SESSION_STATE / "dagster_home")
os.environ["BENTOML_HOME"] = str(_SESSION_STATE / "bentoml")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Before any OpenMP library loads: with one xdist worker per core, spinning OpenMP waits
# would steal the other worker's core (ml_assets.environment.TELEMETRY_OFF says more).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
(_SESSION_STATE / "dagster_home").mkdir(parents=True, exist_ok=True)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The champion served once for the session, and the trained two-version scene (loaded
# after the environment above is set).
pytest_plugins = ["tests.served_champion", "tests.trained_scene"]
FLIGHT_DELAYS_YAML = PROJECT_ROOT / "configs" / "pipelines" / "flight_delays.yaml"
IMAGE_TIER = PROJECT_ROOT / "tests" / "images"


# Test files that share a session fixture run on one xdist worker, so it is built once.
SHARED_FIXTURE_GROUPS = {
    "tests/test_serving.py": "served_champion",
    "tests/test_serving_hardening.py": "served_champion",
    "tests/test_inference_log_served.py": "served_champion",
    "tests/test_prometheus_served.py": "served_champion",
    "tests/test_experiment_served.py": "served_champion",
    "tests/test_served_replay.py": "served_champion",
    "tests/test_cli_verbs.py": "trained_scene",
    "tests/test_live_decisions.py": "trained_scene",
    "tests/test_live_loop_http.py": "trained_scene",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `pytest -n N` (make test) a test file is one unit of work, so its module
    fixtures (a trained pipeline, a server) are built once, on one worker; files that share
    a session fixture (SHARED_FIXTURE_GROUPS) are one unit too. (pytest-xdist's own
    `loadgroup` marks do not group under pytest 9.2: it sets a node id attribute that
    pytest no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class FileGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_FIXTURE_GROUPS.get(path, path)

    return FileGroups(config, log)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--images",
        action="store_true",
        help="collect the image tier, tests/images (podman builds and containers): "
        "`make test-images`, never `make test`",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/images is its own tier: it needs podman, a local base image and the platform
    image that `make test-images` builds first, and takes minutes `make test` has not got."""
    if collection_path == IMAGE_TIER and not config.getoption("--images"):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `slow` files first (stable otherwise), so that workers do not end on the
    longest one while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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

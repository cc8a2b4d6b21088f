"""Twenty real days of March 2013 ingested and two versions trained on them (a stump
promoted first, then XGBoost promoted over it), with a real MLflow registry, BentoML
store and a Dagster instance on disk: built once for the session (a pytest plugin,
registered in tests/conftest.py) and shared by tests/test_cli_verbs.py and
tests/test_live_decisions.py, which read the aliases as they find them."""

import shutil
from collections.abc import Iterator

import pytest
from dagster import DagsterInstance

from resources.model_registry import PREVIOUS_CHAMPION
from tests.helpers import PROJECT_ROOT, run_days
from tests.test_model_lifecycle import STUMP, XGBOOST, Lifecycle

FIRST, LAST = "2013-03-01", "2013-03-20"
LIVE = ("2013-03-19", "2013-03-20")  # after the training windows (as of 2013-03-18)


@pytest.fixture(scope="session")
def scene(flight_config, tmp_path_factory) -> Iterator[Lifecycle]:  # type: ignore[no-untyped-def]
    """Days 1-20 ingested; v(stump) promoted first, then v(xgboost) promoted over it."""
    state = tmp_path_factory.mktemp("verbs")
    home = state / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "configs" / "dagster" / "local.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        life = Lifecycle(flight_config, state, instance)
        assert run_days(life.defs(flight_config), "flight_delays", FIRST, LAST, instance).success
        assert life.train(STUMP).success
        assert life.train(XGBOOST).success
        assert life.alias(PREVIOUS_CHAMPION) is not None
        yield life

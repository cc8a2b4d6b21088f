"""The profile switch (`MLAP_PROFILE`, ml_assets/environment.py): the local profile keeps
every location it had, production takes its state from the environment and fails loudly,
naming the variable, when a setting is missing or malformed. No server is needed: resources
are built, not connected (tests/test_production_profile.py connects one to PostgreSQL).
"""

from pathlib import Path

import pytest
from dagster import EnvVar

from ml_assets import environment
from ml_assets.definitions import platform_resources
from ml_assets.environment import ProfileError

PLATFORM_VARIABLES = (
    "MLAP_PROFILE",
    "MLAP_DATABASE_URL",
    "MLAP_LAKE_URL",
    "MLAP_MLFLOW_URI",
    "MLAP_MLFLOW_ARTIFACTS_URL",
    "MLAP_STEP_PODS",
    "MLAP_LANDING_DIR",
)
DATABASE = "postgresql+psycopg2://mlap:s3cret@db.internal:5432/mlap"


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean platform environment whose state folder is a fresh temporary one."""
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLAP_STATE_DIR", str(tmp_path / "state"))
    return (tmp_path / "state").resolve()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, state: Path) -> Path:
    """The production profile with every required setting, as the ConfigMap and Secret of
    deploy/ give them."""
    monkeypatch.setenv("MLAP_PROFILE", "production")
    monkeypatch.setenv("MLAP_DATABASE_URL", DATABASE)
    monkeypatch.setenv("MLAP_LAKE_URL", "s3://bucket/lake/")
    return state


def test_the_local_profile_keeps_every_location(state: Path) -> None:
    resources = platform_resources()
    registry = resources["model_registry"]
    assert environment.profile() == "local"
    assert registry.tracking_uri == f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    assert registry.artifact_root == str(state / "mlflow" / "artifacts")
    assert registry.lock_dir == str(state / "locks")
    assert registry.study_database is None and registry.study_storage() is None
    assert resources["lake"].base_path == str(state / "lake")
    assert resources["io_manager"].base_path == str(state / "lake")
    assert resources["refs_io_manager"].base_path == f"{state / 'lake'}/_refs"
    assert resources["sources"].landing_root == str(state / "landing")
    assert environment.step_pod_jobs() == frozenset()


def test_production_takes_its_state_from_the_environment(production: Path) -> None:
    resources = platform_resources()
    registry = resources["model_registry"]
    # The password stays in the environment: the resource (and so the UI) holds its name.
    assert registry.tracking_uri == EnvVar("MLAP_DATABASE_URL")
    assert isinstance(registry.tracking_uri, EnvVar)
    assert "s3cret" not in repr(resources)
    assert registry.artifact_root == "s3://bucket/lake/_mlflow"
    assert registry.study_database == "mlap_optuna"
    # Resolved when used outside a run (the CLI), as Dagster resolves it at launch.
    assert (
        registry.study_storage() == "postgresql+psycopg2://mlap:s3cret@db.internal:5432/mlap_optuna"
    )
    assert resources["lake"].base_path == "s3://bucket/lake/"
    assert resources["refs_io_manager"].base_path == "s3://bucket/lake/_refs"
    assert resources["sources"].landing_root == str(production / "landing")


def test_an_explicit_artifact_root_wins(production: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAP_MLFLOW_ARTIFACTS_URL", "gs://artifacts/mlflow")
    assert platform_resources()["model_registry"].artifact_root == "gs://artifacts/mlflow"


@pytest.mark.parametrize("name", ["MLAP_DATABASE_URL", "MLAP_LAKE_URL", "MLAP_STATE_DIR"])
def test_production_names_a_missing_setting(
    production: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, " ")
    with pytest.raises(ProfileError, match=f"MLAP_PROFILE=production needs {name}"):
        platform_resources()


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("postgresql://mlap:s3cret@db/mlap", "postgresql"),
        ("sqlite:////tmp/mlflow.db", "sqlite"),
        ("db.internal/mlap", "no scheme"),
    ],
)
def test_production_wants_the_psycopg2_driver(
    production: Path, monkeypatch: pytest.MonkeyPatch, url: str, scheme: str
) -> None:
    monkeypatch.setenv("MLAP_DATABASE_URL", url)
    with pytest.raises(ProfileError) as raised:
        platform_resources()
    message = str(raised.value)
    assert message.startswith("MLAP_DATABASE_URL must start with postgresql+psycopg2://")
    assert f"(got {scheme})" in message and "s3cret" not in message


def test_production_wants_a_database_name(
    production: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLAP_DATABASE_URL", "postgresql+psycopg2://mlap@db.internal:5432")
    with pytest.raises(ProfileError, match="MLAP_DATABASE_URL names no database"):
        platform_resources()


def test_production_refuses_the_local_mlflow_setting(
    production: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLAP_MLFLOW_URI", "sqlite:////tmp/mlflow.db")
    with pytest.raises(ProfileError, match="MLAP_MLFLOW_URI is a local-profile setting"):
        platform_resources()


def test_an_unknown_profile_is_an_error(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAP_PROFILE", "prod")
    with pytest.raises(ProfileError, match="MLAP_PROFILE='prod': expected 'local' or"):
        environment.lake_url()


def test_step_pods_are_production_only_and_known_kinds(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLAP_STEP_PODS", "train")
    with pytest.raises(ProfileError, match="MLAP_STEP_PODS needs MLAP_PROFILE=production"):
        environment.step_pod_jobs()
    monkeypatch.setenv("MLAP_PROFILE", "production")
    assert environment.step_pod_jobs() == {"train"}
    monkeypatch.setenv("MLAP_STEP_PODS", "train, daily")
    assert environment.step_pod_jobs() == {"train", "daily"}
    monkeypatch.setenv("MLAP_STEP_PODS", "train,tune")
    with pytest.raises(ProfileError, match="unknown job kind"):
        environment.step_pod_jobs()


def test_production_never_makes_a_local_dagster_instance(
    production: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with pytest.raises(ProfileError, match=r"dagster\.yaml does not exist"):
        environment.dagster_home()
    assert not home.exists()
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # an operator's
    assert environment.dagster_home() == home
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    monkeypatch.delenv("DAGSTER_HOME")
    with pytest.raises(ProfileError, match="needs DAGSTER_HOME"):
        environment.dagster_home()

"""The production profile's state on a real PostgreSQL server that the tests start and stop:
Dagster's run, event and schedule storage, MLflow's backend store, Optuna studies shared by
processes, and the advisory lock champion decisions queue for.

Kubernetes and the container images are not exercised here (see the README's production
profile section for what is and is not).
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from ml_assets.keys import train_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.lifecycle import CandidateConfig
from resources.model_registry import CHAMPION
from tests.helpers import PROJECT_ROOT, pipeline_defs, run_days, small_training
from tests.postgres import binaries, create_database, postgres_server

pytestmark = pytest.mark.skipif(binaries() is None, reason="PostgreSQL not installed")

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
STUMP = {"hist_gradient_boosting": CandidateConfig(params={"max_iter": 1, "max_depth": 1})}
XGBOOST = {"xgboost": CandidateConfig(params={"n_estimators": 60, "max_depth": 4})}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def dagster_on_postgres(home: Path, database_url: str) -> DagsterInstance:
    """An instance whose run, event and schedule storage is the database (as deploy's
    production dagster.yaml sets it), from a dagster.yaml like an operator's."""
    home.mkdir(parents=True, exist_ok=True)
    config = {
        "telemetry": {"enabled": False},
        "storage": {"postgres": {"postgres_url": database_url}},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return DagsterInstance.from_config(str(home))


def small(config: PipelineConfig, candidates: dict[str, CandidateConfig]) -> PipelineConfig:
    training = small_training(candidates)
    promotion = config.promotion.model_copy(update={"baselines": ["majority_class"]})
    return config.model_copy(update={"training": training, "promotion": promotion})


def test_pipeline_runs_and_races_on_postgres(
    server: str, flight_config: PipelineConfig, tmp_path: Path
) -> None:
    """Ingest and a training with Dagster and MLflow on PostgreSQL; then copies of its two
    candidates (a tuned XGBoost and a one-split stump) decided at once by four processes
    queue on the advisory lock: exactly one good copy is promoted and the decision log
    verifies."""
    from ml_assets.lib import decision_log

    mlflow_url = create_database(server, "mlflow")
    instance = dagster_on_postgres(tmp_path / "dagster_home", create_database(server, "dagster"))
    state = tmp_path / "state"
    with instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        defs = pipeline_defs(flight_config, state, mlflow_uri=mlflow_url)
        assert run_days(defs, "flight_delays", "2013-03-01", "2013-03-18", instance).success
        trained = pipeline_defs(small(flight_config, STUMP | XGBOOST), state, mlflow_uri=mlflow_url)
        job = trained.resolve_job_def(train_job_name("flight_delays"))
        assert job.execute_in_process(instance=instance, run_config=QUIET).success
        assert len(instance.get_runs()) == 2  # the ingest and the training, in Postgres

    resources = pipeline_defs(flight_config, state, mlflow_uri=mlflow_url).resources or {}
    registry, audit = resources["model_registry"], resources["audit_store"]
    candidates = resources["refs_io_manager"].read(["flight_delays", "candidates"])
    good = registry.by_alias("flight_delays", CHAMPION)  # the tuned XGBoost
    weak = registry.register(candidates.family("hist_gradient_boosting").model, {})  # a stump
    assert good is not None and good.family == "xgboost"
    copies = [registry.register(good if i % 2 else weak, {}) for i in range(4)]
    registry.set_alias("flight_delays", CHAMPION, str(weak.version))
    log = audit.decision_log("flight_delays")
    before = len(decision_log.read(log))
    racers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.race_decide"),
                *(str(state), str(c.version), mlflow_url),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for c in copies
    ]
    outcomes = [json.loads(r.communicate(timeout=600)[0].strip().splitlines()[-1]) for r in racers]
    promoted = [o["version"] for o in outcomes if o["action"] == "promote"]
    assert promoted == [p for p in promoted if p in {str(c.version) for c in copies[1::2]}]
    assert len(promoted) == 1, outcomes
    assert str(registry.by_alias("flight_delays", CHAMPION).version) == promoted[0]
    assert len(decision_log.read(log)) == before + len(copies)
    assert decision_log.verify(log).ok


def test_an_optuna_study_on_postgres_is_shared_by_two_processes(server: str) -> None:
    import optuna

    storage = create_database(server, "optuna")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.tuning_worker", storage, "shared", "10"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=600)
        assert worker.returncode == 0, errors
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 20
    assert sorted(t.number for t in trials) == list(range(20))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def test_the_production_profile_puts_lock_and_studies_on_the_server(
    server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The resources MLAP_PROFILE=production builds (ml_assets/environment.py), on this
    server: the promotion lock is an advisory lock in the MLflow database, and tuning
    studies go to the `_optuna` database beside it."""
    import optuna
    import sqlalchemy

    from ml_assets.definitions import platform_resources

    url = create_database(server, "platform")
    create_database(server, "platform_optuna")
    monkeypatch.setenv("MLAP_PROFILE", "production")
    monkeypatch.setenv("MLAP_DATABASE_URL", url)
    monkeypatch.setenv("MLAP_LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.setenv("MLAP_STATE_DIR", str(tmp_path / "state"))
    registry = platform_resources()["model_registry"]
    held = sqlalchemy.text(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON l.database = d.oid "
        "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = 'platform'"
    )
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with registry.promotion_lock("flight_delays"), engine.connect() as connection:
        assert connection.execute(held).scalar() == 1
    storage = registry.study_storage()
    optuna.create_study(study_name="profile", storage=storage)
    assert storage == f"{server}/platform_optuna"
    assert optuna.get_all_study_names(storage) == ["profile"]
    engine.dispose()

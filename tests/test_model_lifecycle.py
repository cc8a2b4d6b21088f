"""Tier 2: the model lifecycle on 18 real days of March 2013, with a real MLflow registry.

One small ingest, then trainings whose candidates differ, so the promotion rule is seen
doing each of its things: first model, promote, keep, rollback, concurrent decisions,
refusing a tampered artifact, and refusing unusable training data.
"""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dagster import DagsterInstance, Definitions

from ml_assets.keys import features_key, train_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.models import CandidateConfig
from ml_assets.lib.refs import ModelRef
from resources.audit_store import AuditStoreResource
from resources.model_registry import CHAMPION, PREVIOUS_CHAMPION, ModelRegistryResource
from tests.helpers import mlflow_client, pipeline_defs, run_days, small_training

FIRST, LAST = "2013-03-01", "2013-03-18"
STUMP = {"hist_gradient_boosting": CandidateConfig(params={"max_iter": 1, "max_depth": 1})}
XGBOOST = {"xgboost": CandidateConfig(params={"n_estimators": 60, "max_depth": 4})}


class Lifecycle:
    def __init__(self, config: PipelineConfig, state: Path, instance: DagsterInstance):
        self.config, self.state, self.instance = config, state, instance
        resources = self.defs(config).resources or {}
        self.registry: ModelRegistryResource = resources["model_registry"]
        self.audit: AuditStoreResource = resources["audit_store"]
        self.client = mlflow_client(self.defs(config))

    def defs(self, config: PipelineConfig) -> Definitions:
        return pipeline_defs(config, self.state)

    def train(
        self,
        candidates: dict[str, CandidateConfig],
        baselines: tuple[str, ...] = ("majority_class",),
        **training: Any,
    ) -> Any:
        """One training job. These trainings of one family on 10 days are about the decision
        rule, not model quality: only the majority-class gate applies unless asked."""
        promotion = self.config.promotion.model_copy(update={"baselines": list(baselines)})
        config = self.config.model_copy(
            update={"training": small_training(candidates, **training), "promotion": promotion}
        )
        job = self.defs(config).resolve_job_def(train_job_name("flight_delays"))
        return job.execute_in_process(
            instance=self.instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )

    def alias(self, name: str) -> str | None:
        version = self.registry.by_alias("flight_delays", name)
        return str(version.version) if version else None

    def model(self, version: str) -> ModelRef:
        return self.registry.version("flight_delays", version)

    def versions(self) -> list[str]:
        return [str(v.version) for v in self.registry.versions("flight_delays")]


@pytest.fixture(scope="module")
def lifecycle(flight_config, tmp_path_factory) -> Iterator[Lifecycle]:  # type: ignore[no-untyped-def]
    state = tmp_path_factory.mktemp("lifecycle")
    with DagsterInstance.ephemeral() as instance:
        life = Lifecycle(flight_config, state, instance)
        ingest = run_days(life.defs(flight_config), "flight_delays", FIRST, LAST, instance)
        assert ingest.success
        yield life


def metadata_of(result: Any, asset: str) -> dict[str, Any]:
    (mat,) = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == asset
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def decision(result: Any) -> dict[str, Any]:
    (mat,) = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "champion_model"
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def test_lifecycle_first_promote_keep_and_rollback(lifecycle: Lifecycle) -> None:
    # A one-split stump cannot beat an untuned logistic regression: the blocking check
    # stops the run before any decision, and there is still no champion.
    gated = lifecycle.train(STUMP, baselines=("majority_class", "default_logistic_regression"))
    assert not gated.success
    (check,) = [c for c in gated.get_asset_check_evaluations() if c.check_name == "beats_baselines"]
    assert not check.passed and "default_logistic_regression" in str(check.description)
    assert "champion_model" not in {
        e.asset_key.path[-1] for e in gated.get_asset_materialization_events()
    }
    assert lifecycle.alias(CHAMPION) is None

    first = lifecycle.train(STUMP)  # the stump as a weak first champion
    assert first.success
    assert decision(first)["action"] == "promote"
    assert "no current champion" in decision(first)["reason"]
    stump = lifecycle.alias(CHAMPION)
    assert stump is not None and lifecycle.alias(PREVIOUS_CHAMPION) is None

    better = lifecycle.train(XGBOOST, validation_folds=2)
    assert better.success
    candidates = metadata_of(better, "candidates")
    assert candidates["selection"] == "mean over 2 fold(s)"
    assert candidates["tuning_timed_out"] == []
    gap = candidates["validation_test_gap"]["xgboost"]
    assert gap is not None and -1 < gap < 1
    challenger = metadata_of(better, "challenger_model")
    assert challenger["fitted_on"] == "train+validation"
    assert 0 < challenger["decision_threshold"] < 0.5  # F1 on a ~20% positive class
    assert "F1" in challenger["threshold_choice"] and "image/png" in challenger["threshold_choice"]
    assert lifecycle.model(str(challenger["version"])).threshold == pytest.approx(
        challenger["decision_threshold"], abs=1e-4
    )
    # Drift calibration draws days the size of the stored ones, not of the 4,000-row sample.
    lake = (lifecycle.defs(lifecycle.config).resources or {})["lake"]
    path = features_key("flight_delays").path
    stored = [len(lake.read(path, f"2013-03-{day:02d}")) for day in range(1, 11)]
    profile = metadata_of(better, "reference_profile")
    day_rows = profile["calibration_day_rows"]
    assert day_rows == int(np.median(stored)) and day_rows > 4000 / 10
    # Shares calibrated over the monitored features (at least one column's worth).
    warn, error = profile["calibrated_share_warn"], profile["calibrated_share_error"]
    assert 0 < warn <= error <= 1
    (held,) = [
        c for c in better.get_asset_check_evaluations() if c.check_name == "holds_up_on_test"
    ]
    assert "ROC AUC" in str(held.description) and "on test is" in str(held.description)
    promoted = decision(better)
    assert promoted["action"] == "promote", promoted["reason"]
    assert "CI [+" in promoted["reason"]  # the whole interval of the gain is above zero
    xgb = lifecycle.alias(CHAMPION)
    assert xgb != stump and lifecycle.alias(PREVIOUS_CHAMPION) == stump

    same = lifecycle.train(XGBOOST)
    kept = decision(same)
    assert kept["action"] == "keep"
    assert "falls short of the margin" in kept["reason"]
    assert lifecycle.alias(CHAMPION) == xgb

    client = lifecycle.client
    tags = client.get_model_version("flight_delays", str(kept["challenger_version"])).tags
    assert tags["decision.action"] == "keep" and "decision.reason" in tags

    rollback = lifecycle.defs(lifecycle.config).resolve_job_def("flight_delays__rollback")
    assert rollback.execute_in_process(instance=lifecycle.instance).success
    assert lifecycle.alias(CHAMPION) == stump and lifecycle.alias(PREVIOUS_CHAMPION) == xgb
    tags = client.get_model_version("flight_delays", stump).tags
    assert tags["decision.action"] == "rollback"
    assert rollback.execute_in_process(instance=lifecycle.instance).success  # and back again
    assert lifecycle.alias(CHAMPION) == xgb


def test_every_mlflow_run_is_finished_and_tagged(lifecycle: Lifecycle) -> None:
    client = lifecycle.client
    experiment = client.get_experiment_by_name("flight_delays")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    assert runs, "trainings must be tracked"
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        for tag in (
            "dagster.run_id",
            "dagster.asset_key",
            "config_hash",
            "git_commit",
            "window.train",
            "window.test",
        ):
            assert run.data.tags.get(tag), (run.info.run_name, tag)
    assert {r.data.tags["window.test"] for r in runs} == {"2013-03-15..2013-03-18"}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert children and all("validation_roc_auc" in r.data.metrics for r in children)


def test_single_class_training_fails_clearly_and_registers_nothing(lifecycle: Lifecycle) -> None:
    import pandas as pd

    champion, versions = lifecycle.alias(CHAMPION), lifecycle.versions()
    folder = lifecycle.state / "lake" / "flight_delays" / "features"
    train_days = [folder / f"2013-03-{d:02d}.parquet" for d in range(1, 11)]
    originals = {p: p.read_bytes() for p in train_days}
    try:
        for path in originals:  # a broken upstream: nobody was ever late in the train window
            frame = pd.read_parquet(path)
            frame["delayed"] = frame["delayed"].where(frame["delayed"].isna(), False)
            frame.to_parquet(path, index=False)
        result = lifecycle.train(XGBOOST)
    finally:
        for path, content in originals.items():
            path.write_bytes(content)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.step_failure_data.error.to_string()  # type: ignore[union-attr]
    assert "single class" in text and "train window" in text
    assert lifecycle.versions() == versions and lifecycle.alias(CHAMPION) == champion


def test_concurrent_decisions_are_serialised(lifecycle: Lifecycle, flight_config) -> None:  # type: ignore[no-untyped-def]
    from ml_assets.lib.problems import problem_for
    from ml_assets.lifecycle.promotion import decide_and_promote

    registry = lifecycle.registry
    champion = registry.version("flight_delays", str(lifecycle.alias(CHAMPION)))
    # Two new versions of the stump's artifacts: both worse than or equal to the champion,
    # except against a stump champion, where exactly one of them may win.
    stump = registry.version("flight_delays", str(lifecycle.alias(PREVIOUS_CHAMPION)))
    registry.set_alias("flight_delays", CHAMPION, str(stump.version))
    twins = [registry.register(champion, {}) for _ in range(2)]
    test = _test_window(lifecycle)
    y = test["delayed"].astype(int).to_numpy()
    records: list[Any] = []

    def decide(challenger: ModelRef) -> None:
        records.append(
            decide_and_promote(
                registry,
                lifecycle.audit,
                challenger,
                test,
                y,
                flight_config.promotion,
                problem_for(flight_config),
            )
        )

    threads = [threading.Thread(target=decide, args=(v,)) for v in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    actions = sorted(r.action for r in records)
    assert actions == ["keep", "promote"], [r.reason for r in records]
    winner = next(r for r in records if r.action == "promote")
    loser = next(r for r in records if r.action == "keep")
    assert lifecycle.alias(CHAMPION) == winner.challenger_version
    assert loser.champion_version_before == winner.challenger_version  # decided second


def test_decisions_racing_in_separate_processes_never_let_a_worse_model_win(
    lifecycle: Lifecycle,
) -> None:
    """Copies of a good model and of a weak stump decided at once by separate processes
    against a stump champion: the file lock orders them, so exactly one good copy is
    promoted, every other decision keeps, and the decision log still verifies.
    `make test` races 4 processes; the soak races 20 (`MLAP_RACE_PROCESSES=20`)."""
    from ml_assets.lib import decision_log

    registry = lifecycle.registry
    versions = registry.versions("flight_delays")
    good = next(v for v in versions if v.family == "xgboost")  # the 60-tree model
    weak = next(v for v in versions if v.family == "hist_gradient_boosting")  # the stump
    count = int(os.environ.get("MLAP_RACE_PROCESSES", "4"))
    copies = [registry.register(good if i % 2 else weak, {}) for i in range(count)]
    good_copies = {str(c.version) for i, c in enumerate(copies) if i % 2}
    registry.set_alias("flight_delays", CHAMPION, str(weak.version))
    log = lifecycle.audit.decision_log("flight_delays")
    entries_before = len(decision_log.read(log))

    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.race_decide", str(lifecycle.state), str(c.version)],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            text=True,
        )
        for c in copies
    ]
    outcomes = [json.loads(r.communicate(timeout=600)[0].strip().splitlines()[-1]) for r in racers]
    assert all(r.returncode == 0 for r in racers)

    promoted = [o["version"] for o in outcomes if o["action"] == "promote"]
    assert len(promoted) == 1 and promoted[0] in good_copies, outcomes
    assert lifecycle.alias(CHAMPION) == promoted[0]
    assert len(decision_log.read(log)) == entries_before + count
    assert decision_log.verify(log).ok


def test_tampered_champion_is_refused_and_stays_in_place(
    lifecycle: Lifecycle, flight_config
) -> None:  # type: ignore[no-untyped-def]
    from ml_assets.lib.artifacts import ArtifactIntegrityError
    from ml_assets.lib.problems import problem_for
    from ml_assets.lifecycle.promotion import decide_and_promote

    # A registry with nothing loaded yet: the files are read, and checked, again.
    registry = ModelRegistryResource(**lifecycle.registry.model_dump())
    champion = lifecycle.client.get_model_version("flight_delays", str(lifecycle.alias(CHAMPION)))
    stored = Path(champion.source.removeprefix("file://"))
    model_file = next(p for p in stored.iterdir() if p.name.startswith("model."))
    original = model_file.read_bytes()
    model_file.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        challenger = registry.register(registry.version("flight_delays", champion.version), {})
        test = _test_window(lifecycle)
        with pytest.raises(ArtifactIntegrityError, match=model_file.name):
            decide_and_promote(
                registry,
                lifecycle.audit,
                challenger,
                test,
                test["delayed"].astype(int).to_numpy(),
                flight_config.promotion,
                problem_for(flight_config),
            )
        assert lifecycle.alias(CHAMPION) == str(champion.version)
    finally:
        model_file.write_bytes(original)


def _test_window(lifecycle: Lifecycle) -> Any:
    import pandas as pd

    days = [f"2013-03-{d}" for d in range(15, 19)]
    frames = [
        pd.read_parquet(lifecycle.state / "lake" / "flight_delays" / "features" / f"{d}.parquet")
        for d in days
    ]
    test = pd.concat(frames, ignore_index=True)
    return test[test["delayed"].notna()].reset_index(drop=True)

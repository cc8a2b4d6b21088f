"""The automation loop end to end, in process and deterministic.

A champion trained on mid-January to mid-May 2013 meets June: replayed days land one by one
in the landing zone, the arrival sensor's runs validate, featurise, score and monitor
each day, drift checks fail, the retraining sensor starts exactly one training, the
champion decision is recorded, and alerts reach a real HTTP receiver and a real SMTP
server.
"""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterInstance

from ml_assets.keys import daily_job_name, train_job_name
from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.runs.loop import SensorLoop
from ml_assets.runs.replay import replay
from resources.model_registry import CHAMPION
from sensors.arrival import arrival_sensor_name
from sensors.retrain import retrain_sensor_name
from tests.conftest import FLIGHT_DELAYS_YAML
from tests.helpers import local_test_instance, pipeline_defs, run_days
from tests.receivers import http_receiver, smtp_receiver

pytestmark = pytest.mark.slow

HISTORY = ("2013-01-15", "2013-06-11")  # train Jan 15 - May 14, validation, test to Jun 11
# Retraining can start on Jun 18 at the earliest (7 days of cooldown); the next one could
# not start before Jun 25, so this stretch allows exactly one.
REPLAYED = [date(2013, 6, d) for d in range(12, 22)]

LOOP_YAML = f"""
extends: {FLIGHT_DELAYS_YAML}
name: flight_delays
training:
  train_days: 120
  validation_days: 14
  test_days: 14
  max_train_rows: 12000
  tuning: {{n_trials: 2, timeout_seconds: 60}}
  candidates:
    logistic_regression: {{enabled: false}}
    hist_gradient_boosting: {{enabled: false}}
promotion:
  baselines: [majority_class]  # one family, short windows: the loop is under test here
monitoring:
  reference_rows: 2000
  drift: {{calibration: {{resamples: 60}}}}
  retrain: {{window_days: 5, min_days: 3, cooldown_days: 7}}
"""

ALERTS_YAML = """
dedup_window_minutes: 60
escalate_after: 3
channels:
  log: {kind: log}
  webhook: {kind: webhook, url_env: LOOP_WEBHOOK_URL}
  email: {kind: smtp, host: 127.0.0.1, port: "${LOOP_SMTP_PORT}", sender: mlap@localhost,
          recipients_env: LOOP_EMAILS}
routes:
  info: {channels: [log, webhook]}
  warning: {channels: [log, webhook], escalate_to: [email]}
  error: {channels: [log, webhook], escalate_to: [email]}
"""


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple]:
    with http_receiver() as http, smtp_receiver() as inbox:
        yield http, inbox


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory: pytest.TempPathFactory, receivers: tuple) -> Iterator[dict]:
    http, inbox = receivers
    state = tmp_path_factory.mktemp("loop")
    (state / "pipeline.yaml").write_text(LOOP_YAML)
    (state / "alerts.yaml").write_text(ALERTS_YAML)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOOP_WEBHOOK_URL", http.url("/hook"))
        env.setenv("LOOP_SMTP_PORT", str(inbox.port))
        env.setenv("LOOP_EMAILS", "oncall@example.test")
        config = load_pipeline_config(state / "pipeline.yaml")
        defs = pipeline_defs(config, state, alerts_config=state / "alerts.yaml")
        home = state / "dagster_home"
        home.mkdir()
        with local_test_instance(temp_dir=str(home)) as instance:
            yield _drive(config, defs, instance, state)


def _drive(config: PipelineConfig, defs, instance: DagsterInstance, state: Path) -> dict:  # type: ignore[no-untyped-def]
    assert run_days(defs, config.name, *HISTORY, instance).success
    first = defs.resolve_job_def(train_job_name(config.name)).execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert first.success
    loop = SensorLoop(defs, instance)
    sources = defs.resources["sources"]  # type: ignore[index]
    ticks = []
    for day in REPLAYED:
        replay(config, sources, day, day)
        ticks.append((day, loop.tick(arrival_sensor_name(config.name))))
        loop.tick("alert_on_checks_and_decisions")
        ticks.append((day, loop.tick(retrain_sensor_name(config.name))))
        loop.tick("alert_on_checks_and_decisions")
    return {"config": config, "defs": defs, "instance": instance, "loop": loop, "ticks": ticks}


def _runs(loop_run: dict, sensor: str) -> list:
    return [run for _, tick in loop_run["ticks"] if tick.sensor == sensor for run in tick.runs]


def test_each_replayed_day_runs_once_and_succeeds(loop_run: dict) -> None:
    name = loop_run["config"].name
    runs = _runs(loop_run, arrival_sensor_name(name))
    assert [r.dagster_run.tags["dagster/partition"] for r in runs] == [
        d.isoformat() for d in REPLAYED
    ]
    assert all(r.success for r in runs)
    assert {r.dagster_run.job_name for r in runs} == {daily_job_name(name)}


def test_drift_checks_fail_on_the_drifting_days(loop_run: dict) -> None:
    instance: DagsterInstance = loop_run["instance"]
    runs = _runs(loop_run, arrival_sensor_name(loop_run["config"].name))
    verdicts = {}
    for run in runs:
        for evaluation in run.get_asset_check_evaluations():
            if evaluation.check_name == "feature_drift":
                verdicts[run.dagster_run.tags["dagster/partition"]] = evaluation
    assert len(verdicts) == len(REPLAYED)
    failed = [d for d, e in verdicts.items() if not e.passed]
    assert len(failed) >= 3, {d: e.description for d, e in verdicts.items()}
    assert instance is not None


def test_exactly_one_retraining_run_with_a_recorded_decision(loop_run: dict) -> None:
    name = loop_run["config"].name
    retrains = _runs(loop_run, retrain_sensor_name(name))
    assert len(retrains) == 1
    run = retrains[0]
    assert run.success
    assert run.dagster_run.job_name == train_job_name(name)
    assert "over threshold" in run.dagster_run.tags["mlap/retrain_reason"]
    decision = [
        e.step_materialization_data.materialization
        for e in run.get_asset_materialization_events()
        if e.asset_key.path[-1] == "champion_model"
    ]
    assert len(decision) == 1
    assert decision[0].metadata["action"].value in ("promote", "keep")


def test_a_promotion_brings_a_new_bento_and_reference(loop_run: dict) -> None:
    name = loop_run["config"].name
    run = _runs(loop_run, retrain_sensor_name(name))[0]
    materialized = {
        e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata
        for e in run.get_asset_materialization_events()
    }
    action = materialized["champion_model"]["action"].value
    registry = loop_run["defs"].resources["model_registry"]
    champion = str(registry.by_alias(name, CHAMPION).version)
    assert materialized["reference_profile"]["model_version"].value == str(
        materialized["challenger_model"]["version"].value
    )
    if action == "promote":
        assert materialized["champion_bento"]["rebuilt"].value is True
        assert champion == materialized["champion_model"]["champion_version"].value
    else:
        assert materialized["champion_bento"]["rebuilt"].value is False
        assert champion == "1"


def test_alerts_reached_the_local_receivers(loop_run: dict, receivers: tuple) -> None:
    http, inbox = receivers
    posted = http.bodies("/hook")
    keys = [body["key"] for body in posted]
    assert "flight_delays/retrain" in keys, keys
    assert any(k.endswith("drift_report:feature_drift") for k in keys), keys
    assert any(k.startswith("flight_delays/decision:") for k in keys), keys
    # The drift check keeps failing day after day: de-duplicated, then escalated by email.
    repeats = keys.count("flight_delays/drift_report:feature_drift")
    assert 1 <= repeats < 4
    assert any("feature_drift" in str(m["Subject"]) for _, m in inbox.messages)


def test_a_redelivered_identical_file_starts_nothing_and_a_changed_one_does(
    loop_run: dict,
) -> None:
    config, loop = loop_run["config"], loop_run["loop"]
    sources = loop_run["defs"].resources["sources"]
    day = REPLAYED[-1]
    replay(config, sources, day, day)  # the same content again
    again = loop.tick(arrival_sensor_name(config.name))
    assert again.runs == [] and again.duplicates == []
    path = sources.landing_folder(config.landing_folder) / f"{day}.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # one flight fewer: new content
    changed = loop.tick(arrival_sensor_name(config.name))
    assert len(changed.runs) == 1 and changed.runs[0].success
    assert changed.runs[0].dagster_run.tags["mlap/landing_file"] == f"{day}.csv"

"""Tier 6, issue 15's last proofs on the trained scene (tests/trained_scene.py: a stump
and an XGBoost model of the same March 2013 days in a real MLflow registry, the live days
2013-03-19 and -20 ingested with their labels, a Dagster instance on disk).

- A/B over HTTP: the stump as champion against the XGBoost challenger, in the bento that
  `mlap experiment start --mode ab` builds, under a real `bentoml serve`; the live days'
  flights sent over HTTP; the log the service wrote ingested by the inference-log
  sensor's runs, `ab_test` judging it against the days' labels; the experiment sensor's
  run (ticked by `SensorLoop`, as the daemon would) promotes the challenger, records the
  decision and stops the experiment.
- Rollback: the champion's failed requests as the service writes them; the rollback
  sensor's run (ticked by `SensorLoop`) moves the champion back, records the decision and
  keeps the bad day's folder. Served over HTTP from an injected broken model, the same
  story is `benchmarks/reliability/rollback_http.py` (a second `bentoml serve` start-up
  would take this file over its share of the suite's time).

The tests read the aliases as they find them: the A/B test makes the stump the champion
by hand when it is not (mlap promote's path), the rollback judges whatever is champion.
"""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from dagster import build_sensor_context

from ml_assets.keys import model_key, served_traffic_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.rollback import RollbackConfig
from ml_assets.lib.decision_log import Entry, read, verify
from ml_assets.lib.experiment_evidence import experiment_id
from ml_assets.lib.experiment_record import read_current
from ml_assets.lib.inference_errors import FailedRequest, error_frame, write_errors
from ml_assets.lib.inference_log import read_day
from ml_assets.lib.scoring import serving_columns
from ml_assets.lifecycle.experiments import start_experiment, stop_experiment
from ml_assets.lifecycle.promotion import manual_promote
from ml_assets.runs.loop import SensorLoop
from resources.model_registry import CHAMPION, PREVIOUS_CHAMPION
from sensors.experiment import experiment_sensor_name
from sensors.inference_log import inference_log_sensor_name
from sensors.rollback import rollback_sensor_name
from tests.processes import wait_ready
from tests.served_champion import bentoml_server, records
from tests.test_inference_log import settling
from tests.test_model_lifecycle import Lifecycle
from tests.trained_scene import LIVE

PIPELINE = "flight_delays"
BATCH = 100


def _versions(scene: Lifecycle) -> tuple[str, str]:
    """(stump, xgboost): the scene's weak and strong versions, by model family."""
    family = {v: scene.model(v).family for v in scene.versions()}
    (weak,) = [v for v, f in family.items() if f == "hist_gradient_boosting"]
    (strong,) = [v for v, f in family.items() if f == "xgboost"]
    return weak, strong


def _live_config(scene: Lifecycle, **serving: Any) -> PipelineConfig:
    config = settling(scene.config, 0)
    return config.model_copy(update={"serving": config.serving.model_copy(update=serving)})


def _last_decision(scene: Lifecycle, entries_before: int) -> Entry:
    log = scene.audit.decision_log(PIPELINE)
    entries = read(log)
    assert len(entries) == entries_before + 1
    assert verify(log, expected_head=scene.registry.anchored_head(PIPELINE)).ok
    return entries[-1]


def _post_all(url: str, rows: list[dict[str, Any]], size: int) -> list[httpx.Response]:
    with httpx.Client(base_url=url, timeout=60) as client:
        return [
            client.post("/predict", json={"records": rows[i : i + size]})
            for i in range(0, len(rows), size)
        ]


def _ingest(loop: SensorLoop, defs: Any) -> list[str]:
    """The inference-log sensor's tick, each of its runs executed with the day's
    `inference_log` and `ab_test` (served_drift and served_performance, the job's other
    assets, have their own tests); the days run."""
    sensor = defs.get_sensor_def(inference_log_sensor_name(PIPELINE))
    context = build_sensor_context(
        instance=loop.instance,
        cursor=loop.cursors.get(sensor.name),
        resources=loop.resources,
        definitions=defs,
    )
    data = sensor.evaluate_tick(context)
    loop.cursors[sensor.name] = data.cursor
    job = defs.resolve_job_def(served_traffic_job_name(PIPELINE))
    keys = [model_key(PIPELINE, name) for name in ("inference_log", "ab_test")]
    days = []
    for request in sorted(data.run_requests or [], key=lambda r: str(r.partition_key)):
        result = job.execute_in_process(
            instance=loop.instance,
            partition_key=request.partition_key,
            tags=request.tags,
            asset_selection=keys,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        assert result.success
        days.append(str(request.partition_key))
    return days


def _ab_test(scene: Lifecycle, day: str) -> dict[str, Any]:
    event = scene.instance.get_latest_materialization_event(model_key(PIPELINE, "ab_test"))
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.partition == day
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_ab_over_http_concludes_and_promotes_the_better_challenger(
    scene: Lifecycle, tmp_path: Path
) -> None:
    weak, strong = _versions(scene)
    experiment = scene.config.serving.experiment.model_copy(update={"min_samples": 300})
    config = _live_config(scene, experiment=experiment)
    defs = scene.defs(config)
    resources = defs.resources or {}
    lake = resources["lake"]
    if scene.alias(CHAMPION) != weak:
        manual_promote(
            scene.registry, scene.audit, PIPELINE, weak, "the stump serves first", "test"
        )
    assert scene.alias(CHAMPION) == weak
    record = start_experiment(
        resources["model_registry"],
        resources["bento_store"],
        lake,
        config,
        mode="ab",
        share=0.5,
        version=strong,
    )
    try:
        sent = {day: records(scene.state, day)[0] for day in LIVE}
        log = tmp_path / "ab.log"
        with bentoml_server(record.bento_tag, log, MLAP_INFERENCE_LOG_URL=lake.base_path) as url:
            wait_ready(url, log, time.monotonic() + 60)
            answers = {day: _post_all(url, rows, BATCH) for day, rows in sent.items()}
        entries = len(read(scene.audit.decision_log(PIPELINE)))
        loop = SensorLoop(defs, scene.instance)
        assert _ingest(loop, defs) == list(LIVE)
    except BaseException:
        stop_experiment(lake, PIPELINE, "the test failed before the conclusion")
        raise

    # Every record answered, by the arm's own model, and logged under its arm.
    versions = {"champion": weak, "challenger": strong}
    since = pd.Timestamp(record.started_at)
    for day, responses in answers.items():
        assert {r.status_code for r in responses} == {200}
        answered = [p for r in responses for p in r.json()]
        assert len(answered) == len(sent[day])
        assert all(p["model_version"] == versions[p["arm"]] for p in answered)
        logged, _ = read_day(lake.base_path, PIPELINE, day)
        logged = logged[pd.to_datetime(logged["served_at"], utc=True) >= since]
        assert len(logged) == len(sent[day])
        assert (
            logged.groupby("arm").size().to_dict()
            == pd.Series([p["arm"] for p in answered]).value_counts().to_dict()
        )
    # ab_test of the last day: the experiment so far, the challenger clearly better.
    judged = _ab_test(scene, LIVE[-1])
    assert judged["experiment"] == experiment_id(record)
    assert judged["verdict"] == "challenger_better", judged["reason"]
    assert judged["auc_challenger"] > judged["auc_champion"] + 0.05
    assert judged["p_value"] < 0.05

    tick = loop.tick(experiment_sensor_name(PIPELINE))
    (run,) = tick.runs
    assert run.success
    assert (scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)) == (strong, weak)
    entry = _last_decision(scene, entries)
    assert entry.action == "promote" and entry.record["manual"] is False
    assert entry.record["requested_by"] == "experiment sensor"
    assert (entry.record["champion_version_before"], entry.record["champion_version_after"]) == (
        weak,
        strong,
    )
    assert f"ab experiment {experiment_id(record)}" in entry.record["reason"]
    assert entry.record["test.verdict"] == "challenger_better"
    assert read_current(lake.base_path, PIPELINE) is None  # stopped with the decision
    again = loop.tick(experiment_sensor_name(PIPELINE))
    assert again.runs == [] and again.skipped == "no experiment runs"


def test_failed_requests_of_the_champion_roll_it_back_by_the_sensors_run(
    scene: Lifecycle,
) -> None:
    """The rollback half in little: the champion's failed requests as the service writes
    them (`tests/test_experiment_served.py` serves a model that fails every request and
    finds these files; `benchmarks/reliability/rollback_http.py` does the whole story over
    HTTP, its figures in that folder's RESULTS.md), then the rollback sensor's run."""
    policy = RollbackConfig(enabled=True, max_error_rate=0.2, min_requests=100)
    config = _live_config(scene, rollback=policy)
    defs = scene.defs(config)
    lake = (defs.resources or {})["lake"]
    bad, good = scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)
    assert bad and good
    day = LIVE[-1]
    rows = _validated(scene, day)[list(serving_columns(config))].head(100).to_dict("records")
    failed = [
        FailedRequest(
            request_id=f"failed-{bad}-{i}",
            served_at=datetime.now(UTC),
            route="/predict",
            latency_ms=3.0,
            model_version=bad,
            model_tag=f"{PIPELINE}:v{bad}-broken",
            arm="champion",
            rows=1,
            records=[row],
            columns=None,
            status=500,
            error_id=f"e{i}",
        )
        for i, row in enumerate(rows)
    ]
    (written,) = write_errors(lake.base_path, PIPELINE, error_frame(failed, config))
    entries = len(read(scene.audit.decision_log(PIPELINE)))

    loop = SensorLoop(defs, scene.instance)
    tick = loop.tick(rollback_sensor_name(PIPELINE))
    (run,) = tick.runs
    assert run.success
    assert (scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)) == (good, bad)
    entry = _last_decision(scene, entries)
    assert entry.action == "rollback"
    assert (entry.record["champion_version_before"], entry.record["champion_version_after"]) == (
        bad,
        good,
    )
    reason = entry.record["reason"]
    assert reason.startswith(f"rolled back by rollback sensor (v{bad}: error_rate ")
    assert "100 of " in reason and f"champion v{bad} -> v{good}" in reason
    # The bad day's folder kept aside, its failed requests with it.
    (observation,) = [
        e.event_specific_data.asset_observation  # type: ignore[union-attr]
        for e in run.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    kept = Path(str(observation.metadata["kept_log"].value)) / day
    assert Path(written).name in {p.name for p in kept.iterdir()}
    again = loop.tick(rollback_sensor_name(PIPELINE))
    assert again.runs == [] and again.skipped == f"v{bad} already rolled back"


def _validated(scene: Lifecycle, day: str) -> pd.DataFrame:
    return pd.read_parquet(scene.state / "lake" / PIPELINE / "validated_flights" / f"{day}.parquet")

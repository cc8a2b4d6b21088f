"""Tier 4: the retraining sensor through Dagster's sensor API, over a real instance and a
real MLflow registry.

The instance is given the events the daily runs and a training would leave (drift
verdicts per day, feature partitions with their content hashes, the last training set's
windows and data versions) as runless materialisations, so each rule of the sensor is
seen on its own: sustained drift, one run key per decision, one alert per run key, the
cooldown, and no retraining while the data a training would read is unchanged.
"""

import logging
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    MetadataValue,
    build_sensor_context,
)

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.config.monitoring import RetrainConfig
from resources.model_registry import CHAMPION
from sensors.retrain import RETRAIN_REASON_TAG, retrain_sensor_name
from tests.helpers import local_test_instance, mlflow_client, pipeline_defs

DAYS = [(date(2013, 6, 10) + timedelta(days=i)).isoformat() for i in range(8)]


def with_policy(config: PipelineConfig, **policy: Any) -> PipelineConfig:
    monitoring = config.monitoring.model_copy(update={"retrain": RetrainConfig(**policy)})
    return config.model_copy(update={"monitoring": monitoring})


class Scene:
    """An instance and registry holding a champion v1 and the given days of history."""

    def __init__(self, config: PipelineConfig, state: Path, instance: DagsterInstance) -> None:
        self.config, self.instance = config, instance
        self.defs = pipeline_defs(config, state)
        registry = self.defs.resources["model_registry"]  # type: ignore[index]
        client = mlflow_client(self.defs)
        client.create_registered_model(config.name)
        client.create_model_version(config.name, source=str(state / "model"))
        registry.set_alias(config.name, CHAMPION, "1")

    def report(self, asset: str, partition: str | None, **metadata: Any) -> None:
        self.instance.report_runless_asset_event(
            AssetMaterialization([self.config.name, asset], partition=partition, metadata=metadata)
        )

    def features(self, days: list[str], content: str = "v") -> None:
        for day in days:
            self.report("features", day, content_hash=f"{content}-{day}")

    def verdicts(self, verdicts: dict[str, str]) -> None:
        for day, verdict in verdicts.items():
            self.report("drift_report", day, verdict=verdict, model_version="1")

    def trained_as_of(self, day: str, feature_days: list[str], content: str = "v") -> None:
        versions = {d: f"{content}-{d}" for d in feature_days}
        self.report(
            "training_set",
            None,
            windows=MetadataValue.json({"test": f"2013-06-01..{day}"}),
            feature_data_versions=MetadataValue.json(versions),
        )

    def tick(self, cursor: str | None = None) -> Any:
        name = retrain_sensor_name(self.config.name)
        context = build_sensor_context(
            instance=self.instance,
            cursor=cursor,
            definitions=self.defs,
            resources=self.defs.resources,
        )
        return self.defs.get_sensor_def(name).evaluate_tick(context)


@pytest.fixture
def scene(
    flight_config: PipelineConfig, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Scene]:
    policy = getattr(request, "param", {"window_days": 5, "min_days": 3, "cooldown_days": 3})
    with local_test_instance(temp_dir=str(tmp_path)) as instance:
        yield Scene(with_policy(flight_config, **policy), tmp_path, instance)


def test_sustained_drift_requests_one_keyed_run(scene: Scene) -> None:
    scene.features(DAYS)
    scene.trained_as_of(DAYS[2], DAYS[:3])
    scene.verdicts({DAYS[3]: "ok", DAYS[4]: "error", DAYS[5]: "warn", DAYS[6]: "error"})
    quiet = scene.tick()
    assert quiet.run_requests == []
    assert "2 of the latest 4 days judged against v1 over threshold; 3 needed" in (
        quiet.skip_message or ""
    )

    scene.verdicts({DAYS[7]: "error"})
    first, again = scene.tick(), scene.tick()
    (request,) = first.run_requests
    assert request.run_key == f"retrain:flight_delays:v1:{DAYS[7]}"
    assert "3 of the latest 5 days" in request.tags[RETRAIN_REASON_TAG]
    # Evaluated again on the same evidence, the same key: the daemon starts one run.
    assert [r.run_key for r in again.run_requests] == [request.run_key]


def firings(state: Path) -> dict[str, int]:
    """Alert key -> times fired in its window, as the alerts resource recorded them."""
    with sqlite3.connect(state / "alerts" / "alerts.db") as db:  # build_resources' layout
        return dict(db.execute("SELECT key, repeats FROM alert_state").fetchall())


def test_one_alert_per_run_key_however_many_ticks_request_it(
    scene: Scene, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mlap.alerts")
    scene.features(DAYS)
    scene.trained_as_of(DAYS[2], DAYS[:3])
    scene.verdicts(dict.fromkeys(DAYS[4:], "error"))
    cursor, requested = None, []
    for _ in range(4):  # the daemon ticks every minute on the same evidence
        result = scene.tick(cursor)
        cursor = result.cursor
        requested += [r.run_key for r in result.run_requests]
    first_key = f"retrain:flight_delays:v1:{DAYS[7]}"
    assert requested == [first_key] * 4
    assert firings(tmp_path) == {"flight_delays/retrain": 1}
    started = [r for r in caplog.records if "retraining started" in r.getMessage()]
    assert len(started) == 1

    next_day = (date.fromisoformat(DAYS[-1]) + timedelta(days=1)).isoformat()
    scene.features([next_day])
    scene.verdicts({next_day: "error"})
    later = scene.tick(cursor)
    assert [r.run_key for r in later.run_requests] == [f"retrain:flight_delays:v1:{next_day}"]
    assert firings(tmp_path) == {"flight_delays/retrain": 2}  # a new decision alerts again
    assert scene.tick(later.cursor).cursor == later.cursor
    assert firings(tmp_path) == {"flight_delays/retrain": 2}


def test_cooldown_counts_days_of_data_since_the_last_training(scene: Scene) -> None:
    scene.features(DAYS)
    scene.trained_as_of(DAYS[5], DAYS[:6])
    scene.verdicts(dict.fromkeys(DAYS[3:], "error"))
    waiting = scene.tick()
    assert waiting.run_requests == []
    assert f"cooldown: 2 day(s) of data since the last training (as of {DAYS[5]}); 3 needed" in (
        waiting.skip_message or ""
    )


@pytest.mark.parametrize(
    "scene", [{"window_days": 5, "min_days": 3, "cooldown_days": 0}], indirect=True
)
def test_unchanged_training_data_skips_until_a_partition_changes(scene: Scene) -> None:
    scene.features(DAYS)
    scene.trained_as_of(DAYS[-1], DAYS)
    scene.verdicts(dict.fromkeys(DAYS[-3:], "error"))
    unchanged = scene.tick()
    assert unchanged.run_requests == []
    assert "the training data is unchanged since the last training" in (
        unchanged.skip_message or ""
    )

    scene.features([DAYS[2]], content="corrected")  # one day delivered again, new content
    (request,) = scene.tick().run_requests
    assert request.run_key == f"retrain:flight_delays:v1:{DAYS[-1]}"

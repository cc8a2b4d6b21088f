"""Tiers 1, 2 and 4: the running experiment judged as assets. Two real days of flights are
ingested; the service's inference log for them is written in its own format, an A/B split
by the documented hash, each arm's probabilities drawn from the real labels (the
challenger's clearly sharper); `ab_test` is materialised day by day and the experiment
sensor evaluated on the instance that holds it."""

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context, validate_run_config

from ml_assets.keys import conclude_experiment_job_name, model_key, served_traffic_job_name
from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.experiment_evidence import evidence, experiment_id, judge
from ml_assets.lib.experiment_record import ExperimentRecord, read_current, write_current
from ml_assets.lib.features import compute_target
from ml_assets.lib.inference_log import log_frame, with_labels, write_log
from ml_assets.lifecycle.experiment_decision import conclude_experiment
from sensors.experiment import experiment_sensor_name
from tests.ab_traffic import ENTITY_KEY, ab_batches
from tests.helpers import pipeline_defs, run_days

DAYS = ["2013-03-17", "2013-03-18"]
KEY = ENTITY_KEY


def _record(mode: str, min_samples: int) -> ExperimentRecord:
    return ExperimentRecord(
        pipeline="flight_delays",
        mode=mode,
        share=0.5,
        entity_key=KEY,
        champion_version="1",
        champion_tag="flight_delays:v1-aaaaaaaa",
        challenger_version="2",
        challenger_tag="flight_delays:v2-bbbbbbbb",
        bento_tag="flight_delays:xtest",
        started_at="2026-01-01T00:00:00+00:00",
        started_by="test",
        min_samples=min_samples,
        confidence=0.95,
    )


@pytest.fixture(scope="module")
def lake_days(flight_config: PipelineConfig, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """Two ingested days and their served A/B traffic in the log."""
    state = tmp_path_factory.mktemp("experiment")
    defs = pipeline_defs(flight_config, state)
    with DagsterInstance.ephemeral() as instance:
        assert run_days(defs, flight_config.name, DAYS[0], DAYS[-1], instance).success
        lake = str(state / "lake")
        for seed, day in enumerate(DAYS):
            validated = pd.read_parquet(
                state / "lake" / "flight_delays" / "validated_flights" / f"{day}.parquet"
            )
            write_log(
                lake,
                flight_config.name,
                log_frame(ab_batches(flight_config, validated, seed), flight_config),
            )
        yield {"defs": defs, "lake": lake, "state": state}


def _materialize(defs: Any, day: str, instance: DagsterInstance) -> dict[str, Any]:
    job = defs.resolve_job_def(served_traffic_job_name("flight_delays"))
    keys = [model_key("flight_delays", n) for n in ("inference_log", "ab_test")]
    result = job.execute_in_process(partition_key=day, instance=instance, asset_selection=keys)
    assert result.success
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "ab_test"
    ]
    metadata = event.step_materialization_data.materialization.metadata
    return {k: v.value for k, v in metadata.items()}


def _tick(defs: Any, instance: DagsterInstance, cursor: str | None) -> Any:
    sensor = defs.get_sensor_def(experiment_sensor_name("flight_delays"))
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources=dict(defs.resources or {}), definitions=defs
    )
    return sensor.evaluate_tick(context)


def test_ab_test_per_day_and_cumulative_then_the_sensor_concludes(
    lake_days: dict[str, Any],
) -> None:
    defs, lake = lake_days["defs"], lake_days["lake"]
    with DagsterInstance.ephemeral() as instance:
        none = _materialize(defs, DAYS[0], instance)
        assert none["verdict"] == "no experiment"
        assert _tick(defs, instance, None).skip_message == "no experiment runs"

        # min_samples above one day's labelled records per arm, below two days'.
        write_current(lake, _record("ab", min_samples=10_000))
        first = _materialize(defs, DAYS[0], instance)
        per_arm = first["cumulative"]
        labelled = [int(x) for x in _column(per_arm, "labelled")]
        assert min(labelled) > 200  # both arms got about half of the day's flights
        write_current(lake, _record("ab", min_samples=max(labelled) + 1))
        first = _materialize(defs, DAYS[0], instance)
        assert first["experiment"] == "v2@2026-01-01T00:00:00+00:00"
        assert first["verdict"] == "waiting" and first["p_value"] < 0.05
        assert first["auc_challenger"] > first["auc_champion"] + 0.1
        assert "more labelled record(s) per arm needed" in first["reason"]
        waiting = _tick(defs, instance, None)
        assert waiting.run_requests == [] and DAYS[0] in waiting.skip_message

        second = _materialize(defs, DAYS[1], instance)
        today = [int(x) for x in _column(second["day"], "labelled")]
        cumulative = [int(x) for x in _column(second["cumulative"], "labelled")]
        assert cumulative == [a + b for a, b in zip(labelled, today, strict=True)]
        assert second["verdict"] == "challenger_better" and second["samples_needed"] == -1
        assert second["result"]["samples_champion"] == cumulative[0]
        assert second["result"]["samples_challenger"] == cumulative[1]
        concluded = _tick(defs, instance, None)
        (request,) = concluded.run_requests
        sensor = defs.get_sensor_def(experiment_sensor_name("flight_delays"))
        assert sensor.job_name == conclude_experiment_job_name("flight_delays")
        assert request.run_key == "v2@2026-01-01T00:00:00+00:00:challenger_better"
        assert concluded.cursor == "v2@2026-01-01T00:00:00+00:00"
        (op_config,) = request.run_config["ops"].values()
        assert op_config["config"]["experiment"] == second["experiment"]
        assert "the challenger is better" in op_config["config"]["reason"]
        again = _tick(defs, instance, concluded.cursor)
        assert again.run_requests == [] and "already concluded" in again.skip_message
        # The job takes the request's config (checked without a run here: this lake has no
        # registered versions; tests/test_live_decisions.py runs it on a trained registry).
        job = defs.resolve_job_def(conclude_experiment_job_name("flight_delays"))
        assert validate_run_config(job, request.run_config)
        assert read_current(lake, "flight_delays") is not None


def test_a_verdict_about_another_experiment_concludes_nothing(lake_days: dict[str, Any]) -> None:
    defs = lake_days["defs"]
    resources = defs.resources
    lake = resources["lake"]
    write_current(lake.base_path, _record("ab", min_samples=10))
    running = read_current(lake.base_path, "flight_delays")
    assert running is not None
    args = (resources["model_registry"], resources["audit_store"], lake, "flight_delays")
    with pytest.raises(ValueError, match="the running one is v2@2026-01-01"):
        conclude_experiment(*args, "v9@2025-01-01", {"verdict": "challenger_better"}, "", "test")
    with pytest.raises(ValueError, match="verdict 'waiting' concludes nothing"):
        conclude_experiment(*args, experiment_id(running), {"verdict": "waiting"}, "", "test")
    assert read_current(lake.base_path, "flight_delays") == running  # still running


def test_shadow_evidence_is_paired_by_request_and_record(
    flight_config: PipelineConfig, lake_days: dict[str, Any]
) -> None:
    state = lake_days["state"]
    validated = pd.read_parquet(
        state / "lake" / "flight_delays" / "validated_flights" / f"{DAYS[0]}.parquet"
    )
    champion, challenger = ab_batches(flight_config, validated, 0)
    # The shadow log: the challenger scored the champion's records under its request id
    # (here scores that follow the labels closely, which a paired test sees at once).
    actual = compute_target(validated, flight_config.target).to_numpy(dtype="float64")
    sharp = np.nan_to_num(0.3 + 0.4 * actual[list(champion.positions or [])], nan=0.5)
    sharp += np.random.default_rng(1).normal(scale=0.2, size=len(sharp))
    shadow = dataclasses.replace(
        challenger,
        arm="shadow",
        request_id=champion.request_id,
        records=champion.records,
        outputs=[{"probability": float(p)} for p in sharp],
        rows=champion.rows,
        positions=champion.positions,
    )
    log = log_frame([champion, shadow], flight_config)
    joined = with_labels(log, validated, KEY, flight_config)
    skipped = joined.index[(joined["arm"] == "shadow") & joined["actual"].notna()][:5]
    joined = joined.drop(index=skipped)  # 5 labelled records the shadow queue skipped
    rows = evidence(joined, _record("shadow", min_samples=10))
    labelled = int((joined["actual"].notna() & (joined["arm"] == "champion")).sum())
    counts = rows.groupby("arm").size().to_dict()
    assert counts["champion"] == counts["challenger"]
    assert counts["champion"] == labelled - 5
    _, result, reason = judge(rows, _record("shadow", min_samples=10))
    assert result is not None and result.test == "paired DeLong"
    assert result.samples_champion == result.samples_challenger == counts["champion"]
    assert result.verdict == "challenger_better", reason


def _column(table: str, name: str) -> list[str]:
    """A column of a Markdown table written by DataFrame.to_markdown."""
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    at = header.index(name)
    return [[c.strip() for c in line.strip("|").split("|")][at] for line in lines[2:]]

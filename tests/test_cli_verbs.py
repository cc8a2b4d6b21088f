"""`mlap predict`, `mlap monitor` and `mlap promote` in process (typer's CliRunner) on real
days of March 2013, two real trained versions, a real MLflow registry, BentoML store and a
Dagster instance on disk that the CLI opens itself (DAGSTER_HOME): tests/trained_scene.py.

The CLI reads the code location's `defs`; here it is the same definitions built for the
test's state folder (`tests.helpers.pipeline_defs`, the code location's resource builder).
"""

from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    RunsFilter,
    build_sensor_context,
)
from typer.testing import CliRunner

from ml_assets.cli.main import app
from ml_assets.environment import TELEMETRY_OFF
from ml_assets.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from resources.model_registry import CHAMPION, PREVIOUS_CHAMPION
from tests.test_model_lifecycle import Lifecycle
from tests.trained_scene import LIVE


@pytest.fixture
def mlap(scene: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke the CLI on the scene's definitions and Dagster home."""
    defs = scene.defs(scene.config)
    monkeypatch.setattr("ml_assets.definitions.build_definitions", lambda: defs)
    env = {**TELEMETRY_OFF, "DAGSTER_HOME": str(scene.state / "dagster_home")}

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


def runs_of(instance: DagsterInstance, job: str) -> list[Any]:
    return list(reversed(instance.get_runs(RunsFilter(job_name=job))))


def test_predict_scores_a_range_as_one_run_and_prints_each_day(scene: Lifecycle, mlap: Any) -> None:
    before = len(runs_of(scene.instance, "flight_delays__predict"))
    result = mlap("predict", "flight_delays", "--start", LIVE[0], "--end", LIVE[1])
    assert result.exit_code == 0, result.output
    champion = scene.alias(CHAMPION)
    assert "(2 days) succeeded" in result.output
    assert f"model version: v{champion}" in result.output
    for day in LIVE:
        (line,) = [row for row in result.output.splitlines() if row.startswith(day)]
        rows = int(line.split()[1].replace(",", ""))
        assert rows > 500  # a weekday of New York departures
        folder = scene.state / "lake" / "flight_delays" / "batch_predictions"
        assert (folder / f"{day}.parquet").is_file()
    runs = runs_of(scene.instance, "flight_delays__predict")
    assert len(runs) == before + 1  # one run for the whole range
    assert runs[-1].tags[PARTITION_RANGE_START_TAG] == LIVE[0]
    assert runs[-1].tags[PARTITION_RANGE_END_TAG] == LIVE[1]


def test_predict_in_runs_of_one_day_scores_the_same_rows(scene: Lifecycle, mlap: Any) -> None:
    whole = mlap("predict", "flight_delays", "--start", LIVE[0], "--end", LIVE[1])
    before = len(runs_of(scene.instance, "flight_delays__predict"))
    cut = mlap(
        "predict", "flight_delays", "--start", LIVE[0], "--end", LIVE[1], "--days-per-run", "1"
    )
    assert cut.exit_code == 0, cut.output
    runs = runs_of(scene.instance, "flight_delays__predict")[before:]
    assert [(r.tags[PARTITION_RANGE_START_TAG], r.tags[PARTITION_RANGE_END_TAG]) for r in runs] == [
        (day, day) for day in LIVE
    ]
    # The same table per day as one run gave (rows, labelled, mean p, positive rate).
    assert cut.output.splitlines()[-2:] == whole.output.splitlines()[-2:]
    assert "(2 days) succeeded" in cut.output


def test_predict_refuses_bad_ranges_and_exits_1_when_the_run_fails(mlap: Any) -> None:
    backwards = mlap("predict", "flight_delays", "--start", LIVE[1], "--end", LIVE[0])
    assert backwards.exit_code == 2 and "is before --start" in backwards.stderr
    outside = mlap("predict", "flight_delays", "--start", "2014-01-01")
    assert outside.exit_code == 2 and "is not a partition of flight_delays" in outside.stderr
    # A partition of the pipeline whose features were never materialised.
    missing = mlap("predict", "flight_delays", "--start", "2013-04-02")
    assert missing.exit_code == 1, missing.output
    assert "FAILED" in missing.output and "error:" in missing.output


def test_monitor_predicts_once_then_monitors_each_day_in_its_own_run(
    scene: Lifecycle, mlap: Any
) -> None:
    predicts = len(runs_of(scene.instance, "flight_delays__predict"))
    dailies = len(runs_of(scene.instance, "flight_delays__daily"))
    result = mlap("monitor", "flight_delays", "--start", LIVE[0], "--end", LIVE[1])
    assert result.exit_code == 0, result.output
    assert len(runs_of(scene.instance, "flight_delays__predict")) == predicts + 1
    days = runs_of(scene.instance, "flight_delays__daily")[dailies:]
    assert [r.tags["dagster/partition"] for r in days] == list(LIVE)
    lines = result.output.splitlines()
    at = max(i for i, line in enumerate(lines) if line.startswith("day "))  # after predictions
    header, table = lines[at], lines[at + 1 :]
    for name in ("drifted", "live roc_auc", "feature_drift", "performance_within_tolerance"):
        assert name in header
    for day in LIVE:
        (line,) = [row for row in table if row.startswith(day + " ")]
        cells = line.split()
        assert cells[1].endswith("%") and 0.0 < float(cells[2]) < 1.0, line
        assert set(cells[3:]) <= {"ok", "warn", "error"}, line
    # A failed check is reported, not an exit code; --strict turns it into one. The same
    # days give the same verdicts, so the recorded results of the strict runs decide.
    strict = mlap("monitor", "flight_delays", "--start", LIVE[0], "--end", LIVE[1], "--strict")
    strict_runs = runs_of(scene.instance, "flight_delays__daily")[dailies + 2 :]
    failed = [
        record
        for run in strict_runs
        for record in scene.instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        )
        if not record.dagster_event.event_specific_data.passed  # type: ignore[union-attr]
    ]
    assert len(strict_runs) == 2
    assert strict.exit_code == (1 if failed else 0), strict.output
    assert f"checks not passing: {len(failed) or 'none'}" in strict.output


def test_monitor_exits_1_when_a_run_fails(mlap: Any) -> None:
    result = mlap("monitor", "flight_delays", "--start", "2013-04-02")
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output


def test_promote_refuses_and_moves_nothing(scene: Lifecycle, mlap: Any) -> None:
    log = scene.audit.decision_log("flight_delays")
    entries = len(log.read_text().splitlines())
    champion, previous = scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)
    assert champion and previous

    empty = mlap("promote", "flight_delays", "--version", previous, "--reason", "  ")
    assert empty.exit_code == 2 and "--reason is empty" in empty.stderr
    unknown = mlap("promote", "flight_delays", "--version", "99", "--reason", "fix")
    assert unknown.exit_code == 1
    refusal = "refused: ValueError: flight_delays has no version 99 (versions: 1, 2)"
    assert refusal in unknown.stderr.splitlines()
    same = mlap("promote", "flight_delays", "--version", champion, "--reason", "fix")
    assert same.exit_code == 1
    refusal = f"refused: ValueError: flight_delays v{champion} is already the champion"
    assert refusal in same.stderr.splitlines()

    model_file = _model_file(scene, previous)
    original = model_file.read_bytes()
    model_file.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        tampered = mlap("promote", "flight_delays", "--version", previous, "--reason", "fix")
    finally:
        model_file.write_bytes(original)
    assert tampered.exit_code == 1
    (line,) = [row for row in tampered.stderr.splitlines() if row.startswith("refused:")]
    assert "ArtifactIntegrityError" in line and model_file.name in line

    assert (scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)) == (champion, previous)
    assert len(log.read_text().splitlines()) == entries


def test_promote_records_the_override_alerts_and_ships_its_bento(
    scene: Lifecycle, mlap: Any
) -> None:
    from ml_assets.lib.decision_log import read, verify
    from resources.refs import read_ref

    champion, target = scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)
    assert champion and target
    reason = "fixes a join bug the significance test cannot see"
    result = mlap("promote", "flight_delays", "--version", target, "--reason", reason)
    assert result.exit_code == 0, result.output + result.stderr
    assert (scene.alias(CHAMPION), scene.alias(PREVIOUS_CHAMPION)) == (target, champion)
    assert "mlap serve flight_delays" in result.output

    # The decision log: a chained promote entry with manual: true, its head anchored.
    log = scene.audit.decision_log("flight_delays")
    last = read(log)[-1]
    assert last.action == "promote" and last.record["manual"] is True
    assert reason in last.record["reason"] and "mlap promote" in last.record["reason"]
    assert last.record["champion_version_before"] == champion
    assert verify(log, expected_head=scene.registry.anchored_head("flight_delays")).ok

    # MLflow: the version and the run that trained it carry the decision.
    tags = scene.client.get_model_version("flight_delays", target).tags
    assert tags["decision.action"] == "promote" and tags["decision.manual"] == "True"
    assert tags["decision.log_entry_hash"] == last.entry_hash
    run_tags = scene.client.get_run(scene.model(target).mlflow_run_id).data.tags
    assert run_tags["decision.log_entry_hash"] == last.entry_hash

    # Dagster: an observation of champion_model, which the alert sensor turns into an alert.
    key = AssetKey(["flight_delays", "champion_model"])
    (observation,) = scene.instance.fetch_observations(
        AssetRecordsFilter(asset_key=key), limit=1
    ).records
    metadata = observation.asset_observation.metadata  # type: ignore[union-attr]
    assert metadata["manual"].value is True and metadata["champion_version"].value == target
    defs = scene.defs(scene.config)
    sensor = defs.get_sensor_def("alert_on_checks_and_decisions")
    context = build_sensor_context(
        instance=scene.instance, resources=defs.resources, definitions=defs
    )
    sensor.evaluate_tick(context)
    promoted = f"flight_delays/decision:promote:{target}:"
    assert any(key.startswith(promoted) for key in _firings(scene.state))

    # The bento of the promoted version, and the pointer `mlap serve` reads.
    bento = read_ref(str(scene.state / "lake" / "_refs"), ["flight_delays", "champion_bento"])
    assert bento.tag.startswith(f"flight_delays:v{target}-")
    assert f"bento: built {bento.tag}" in result.output or f"kept existing {bento.tag}" in (
        result.output
    )
    passport = scene.audit.read_passport("flight_delays", target)
    assert passport["decision"]["action"] == "promote"


def _model_file(scene: Lifecycle, version: str) -> Path:
    source = scene.client.get_model_version("flight_delays", version).source
    stored = Path(source.removeprefix("file://"))
    return next(p for p in stored.iterdir() if p.name.startswith("model."))


def _firings(state: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(state / "alerts" / "alerts.db") as db:
        return dict(db.execute("SELECT key, repeats FROM alert_state").fetchall())

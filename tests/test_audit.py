"""Audit: passports read from what happened, the decision log, and the `mlap audit` CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance

from ml_assets.keys import ingest_job_name
from ml_assets.lib.passport_render import render_lineage, render_markdown
from ml_assets.lifecycle.passport import build_passport
from tests.conftest import FLIGHT_DELAYS_YAML, PROJECT_ROOT
from tests.helpers import run_days
from tests.test_model_lifecycle import XGBOOST, Lifecycle

MLAP = str(Path(sys.executable).parent / "mlap")
TRAIN_DAYS = [f"2013-03-{d:02d}" for d in range(1, 19)]


@pytest.fixture(scope="module")
def trained(flight_config, tmp_path_factory) -> Any:  # type: ignore[no-untyped-def]
    state = tmp_path_factory.mktemp("audit")
    with DagsterInstance.ephemeral() as instance:
        life = Lifecycle(flight_config, state, instance)
        assert run_days(
            life.defs(flight_config), "flight_delays", TRAIN_DAYS[0], TRAIN_DAYS[-1], instance
        ).success
        assert life.train(XGBOOST).success
        yield life


def test_passport_lineage_matches_the_partitions_really_used(trained: Lifecycle) -> None:
    version = trained.alias("champion")
    assert version is not None
    passport = build_passport(
        trained.instance, trained.registry, trained.config, trained.model(version)
    )
    partitions = passport["lineage"]["partitions"]
    assert sorted(partitions) == TRAIN_DAYS
    assert passport["missing"] == []
    for entry in partitions.values():
        assert entry["features"]["data_version"] and entry["validated"]["data_version"]
        assert entry["raw"]["data_version"]
    assert set(passport["lineage"]["references"]) == {"weather", "planes", "airlines", "airports"}
    assert passport["decision"]["action"] == "promote"
    assert passport["model"]["manifest_sha256"] and passport["code"]["git_commit"]
    assert {"training_set", "candidates", "champion_model"} <= set(
        passport["code"]["code_versions"]
    )
    assert set(passport["lineage"]["code_versions"]) == {"features", "validated", "raw"}
    assert len(passport["checks"]) >= 3 and all(c["passed"] for c in passport["checks"])
    assert "roc_auc" in passport["evaluation"]
    assert passport["passport_id"].startswith(f"flight_delays-v{version}-")
    assert f"Passport {passport['passport_id']}" in render_markdown(passport)
    assert "raw[2013-03-01]" in render_lineage(passport)


def test_a_changed_partition_shows_in_the_next_models_passport(trained: Lifecycle) -> None:
    champion = trained.model(str(trained.alias("champion")))
    before = build_passport(trained.instance, trained.registry, trained.config, champion)
    day = "2013-03-05"
    # The same day ingested again with one more feature: new content, new data version.
    config = trained.config.model_copy(deep=True)
    extra = config.features.definitions["distance"].model_copy(update={"description": "again"})
    definitions = {**config.features.definitions, "distance_again": extra}
    config = config.model_copy(
        update={"features": config.features.model_copy(update={"definitions": definitions})}
    )
    job = trained.defs(config).resolve_job_def(ingest_job_name("flight_delays"))
    assert job.execute_in_process(instance=trained.instance, partition_key=day).success
    assert trained.train(XGBOOST).success
    newest = max(trained.versions(), key=int)
    after = build_passport(
        trained.instance, trained.registry, trained.config, trained.model(newest)
    )
    old, new = before["lineage"]["partitions"], after["lineage"]["partitions"]
    changed = [
        d
        for d in TRAIN_DAYS
        if old[d]["features"]["data_version"] != new[d]["features"]["data_version"]
    ]
    assert changed == [day]
    assert new[day]["features"]["run_id"] != old[day]["features"]["run_id"]


def test_a_wiped_upstream_is_reported_not_invented(trained: Lifecycle) -> None:
    version = str(trained.alias("champion"))
    trained.instance.wipe_assets([AssetKey(["flight_delays", "raw_flights"])])
    passport = build_passport(
        trained.instance, trained.registry, trained.config, trained.model(version)
    )
    assert len(passport["missing"]) == len(TRAIN_DAYS)
    assert (
        "flight_delays/raw_flights[2013-03-01]: no materialisation in the instance"
        in passport["missing"]
    )
    assert all(entry["raw"] is None for entry in passport["lineage"]["partitions"].values())
    assert "MISSING from the instance" in render_lineage(passport)


@pytest.fixture(scope="module")
def cli_state(tmp_path_factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    state = tmp_path_factory.mktemp("audit-cli")
    pipelines = state / "pipelines"
    pipelines.mkdir()
    (pipelines / "flight_delays.yaml").write_text(
        f"extends: {FLIGHT_DELAYS_YAML}\n"
        "training:\n  as_of: 2013-03-18\n  train_days: 10\n  validation_days: 4\n  test_days: 4\n"
        "  max_train_rows: 3000\n  tuning: {n_trials: 2, timeout_seconds: 60}\n"
        "  candidates:\n    logistic_regression: {enabled: false}\n"
        "    hist_gradient_boosting: {enabled: false}\n"
        "    xgboost: {params: {n_estimators: 40}, search_space: {}}\n"
        "promotion: {baselines: [majority_class]}\n"
    )
    env = {
        **os.environ,
        "MLAP_STATE_DIR": str(state),
        "MLAP_PIPELINES_DIR": str(pipelines),
        "BENTOML_HOME": str(state / "bentoml"),
    }
    env.pop("DAGSTER_HOME", None)
    for args in (
        ["backfill", "flight_delays", "--start", "2013-03-01", "--end", "2013-03-18"],
        ["train", "flight_delays"],
    ):
        done = subprocess.run(
            [MLAP, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return env


def mlap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`mlap audit ...` in this process (the backfill and training above ran the real
    console script; an audit verb as a process would only pay the imports again)."""
    from typer.testing import CliRunner

    from ml_assets.cli import app

    names = ("MLAP_STATE_DIR", "MLAP_PIPELINES_DIR", "BENTOML_HOME")
    given: dict[str, str | None] = {n: env[n] for n in names} | {"DAGSTER_HOME": None}
    result = CliRunner().invoke(app, ["audit", *args], env=given)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_audit_cli_show_verify_lineage(cli_state: dict[str, str]) -> None:
    shown = mlap(cli_state, "show", "flight_delays")
    assert shown.returncode == 0, shown.stderr
    assert "# Passport flight_delays-v1-" in shown.stdout and "## Decision" in shown.stdout
    as_json = json.loads(mlap(cli_state, "show", "flight_delays", "--format", "json").stdout)
    assert as_json["model"]["registered_version"] == "1"
    lineage = mlap(cli_state, "lineage", "flight_delays", "--version", "1")
    assert lineage.returncode == 0 and "features[2013-03-18]" in lineage.stdout
    verified = mlap(cli_state, "verify", "flight_delays")
    assert verified.returncode == 0 and "1 entries, chain intact" in verified.stdout


def test_audit_cli_errors_and_tampering(cli_state: dict[str, str]) -> None:
    unknown = mlap(cli_state, "show", "nope")
    assert unknown.returncode == 2 and "unknown pipeline 'nope'" in unknown.stderr
    missing = mlap(cli_state, "show", "flight_delays", "--version", "99")
    assert missing.returncode == 2 and "no passport for flight_delays version 99" in missing.stderr
    log = Path(cli_state["MLAP_STATE_DIR"]) / "audit" / "decisions" / "flight_delays.jsonl"
    original = log.read_text()
    try:
        log.write_text(original.replace('"promote"', '"keep"', 1))
        tampered = mlap(cli_state, "verify", "flight_delays")
        assert tampered.returncode == 1
        assert "entry 0" in tampered.stderr and "FAILED" in tampered.stderr
        log.write_text("")
        emptied = mlap(cli_state, "verify", "flight_delays")
        assert emptied.returncode == 1 and "anchored head" in emptied.stderr
    finally:
        log.write_text(original)

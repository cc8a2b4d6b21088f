"""Audit: passports read from what happened, the decision log, and the `mlap audit` CLI."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance

from ml_assets.keys import ingest_job_name
from ml_assets.lib.passport_render import render_lineage, render_markdown
from ml_assets.lifecycle.passport import build_passport
from tests.conftest import PROJECT_ROOT
from tests.helpers import run_days
from tests.test_model_lifecycle import XGBOOST, Lifecycle

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
def cli_state(trained: Lifecycle) -> dict[str, str]:
    """The CLI's settings for the trained state above (the real console scripts' backfill
    and training run in tests/dagster_dev.py, which the UI tests start)."""
    return {
        "MLAP_STATE_DIR": str(trained.state),
        "MLAP_PIPELINES_DIR": str(PROJECT_ROOT / "configs" / "pipelines"),
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
    }


def mlap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`mlap audit ...` in this process (an audit verb as a process would only pay the
    imports again)."""
    from typer.testing import CliRunner

    from ml_assets.cli import app

    names = ("MLAP_STATE_DIR", "MLAP_PIPELINES_DIR", "BENTOML_HOME")
    given: dict[str, str | None] = {n: env[n] for n in names} | {"DAGSTER_HOME": None}
    result = CliRunner().invoke(app, ["audit", *args], env=given)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_audit_cli_show_verify_lineage(trained: Lifecycle, cli_state: dict[str, str]) -> None:
    champion = trained.alias("champion")
    shown = mlap(cli_state, "show", "flight_delays")
    assert shown.returncode == 0, shown.stderr
    assert f"# Passport flight_delays-v{champion}-" in shown.stdout
    assert "## Decision" in shown.stdout
    as_json = json.loads(mlap(cli_state, "show", "flight_delays", "--format", "json").stdout)
    assert as_json["model"]["registered_version"] == champion
    lineage = mlap(cli_state, "lineage", "flight_delays", "--version", "1")
    assert lineage.returncode == 0 and "features[2013-03-18]" in lineage.stdout
    verified = mlap(cli_state, "verify", "flight_delays")
    decisions = len(trained.versions())  # one recorded decision per training
    assert verified.returncode == 0, verified.stderr
    assert f"{decisions} entries, chain intact" in verified.stdout


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

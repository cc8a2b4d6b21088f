"""Tier 5: bentos of two pipelines built and served side by side from one BentoML store.

Each bundle holds a small real model trained on the pipeline's own validated data. The
bentos are built by `bentoml build` subprocesses and served by plain `bentoml serve <tag>`
processes; this process's environment never learns about the store.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from bentos.image import serving_pins
from ml_assets.lib.artifacts import save_model
from ml_assets.lib.candidates import build_model
from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.features import EVENT_DATE, build_features, feature_kinds, history_ops
from ml_assets.lib.problems import problem_for
from ml_assets.lib.scoring import serving_columns, write_bundle
from ml_assets.lib.validation import validate_frame
from resources.bento_store import BentoStoreResource, StoredBento
from resources.sources import SourcesResource
from tests.conftest import FLIGHT_DELAYS_YAML
from tests.processes import free_port, running, wait_ready
from tests.test_second_pipeline import MACHINES_YAML, write_machine_data

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def make_bundle(config: PipelineConfig, days: int, version: str, folder: Path) -> dict[str, Any]:
    """A serving bundle of a small XGBoost model trained on the pipeline's first days (a
    static table's rows)."""
    sources = SourcesResource(landing_root=str(folder / "landing"))
    event_source = config.event_source
    if config.partitioning is None:
        raw, carried = sources.read_reference(event_source), []
    else:
        start = config.partitioning.start_date
        raw = sources.read_events(
            event_source,
            config.partitioning,
            [(start + timedelta(days=i)).isoformat() for i in range(days)],
        )
        carried = [EVENT_DATE]
    events = validate_frame(
        raw, event_source.columns, event_source.primary_key, carry_columns=carried
    ).valid
    references = {}
    for join in config.joins:
        source = config.sources[join.source]
        table = sources.read_reference(source)
        references[join.source] = validate_frame(table, source.columns, source.primary_key).valid
    features = build_features(events, references, config)
    features = features[features[config.target.name].notna()]  # cancelled flights: no label
    label = config.target.name
    spec = FeatureSpec.fit(features, feature_kinds(config), label, history_ops(config))
    problem = problem_for(config)
    model = build_model("xgboost", {"n_estimators": 20, "max_depth": 3}, spec, 0, problem.kind)
    matrix, target = spec.matrix(features), features[config.target.name]
    model.fit(matrix, problem.target(target))
    # What training chooses on validation (a threshold, an interval), here on its own rows.
    served = problem.calibrate(problem.truth(target), problem.predict(model, matrix), {})
    manifest = save_model(model, spec, folder / "model")
    example = json_records(events.head(1), config)[0]
    metadata = {
        "pipeline": config.name,
        "version": version,
        "family": "xgboost",
        "manifest_sha256": manifest.manifest_sha256,
        "schema": {
            n: s.model_dump(mode="json", exclude_none=True)
            for n, s in serving_columns(config).items()
        },
        "example_record": example,
        "problem_type": config.target.problem_type,
        **served.as_metadata(),
    }
    write_bundle(folder / "bundle", folder / "model", config, references, metadata)
    return {"manifest": manifest.manifest_sha256, "records": json_records(events.head(3), config)}


def json_records(rows: pd.DataFrame, config: PipelineConfig) -> list[dict[str, Any]]:
    """Rows as a client sends them: the serving columns, JSON types, ISO times."""
    columns = list(serving_columns(config))
    return json.loads(rows[columns].to_json(orient="records", date_format="iso"))


@contextmanager
def served(store: BentoStoreResource, bento: StoredBento, log: Path) -> Iterator[str]:
    port = free_port()
    argv, env = store.serve_command(bento.tag, "127.0.0.1", port)
    # Run it away from the project: the bento must bring its own source.
    env.pop("PYTHONPATH", None)
    with running(argv, env, log.parent, log):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The flight delays config and the machine failures config with its data files."""
    folder = tmp_path_factory.mktemp("machines")
    (folder / "machine_failures.yaml").write_text(MACHINES_YAML)
    write_machine_data(folder)
    return {
        "flight_delays": (load_pipeline_config(FLIGHT_DELAYS_YAML), 2, "3"),
        "machine_failures": (load_pipeline_config(folder / "machine_failures.yaml"), 3, "1"),
    }


def bentoml_environment() -> dict[str, str]:
    """This process's BentoML settings. (Library imports such as scikit-learn's set
    unrelated variables like KMP_INIT_AT_FORK; they are not what this test is about.)"""
    return {k: v for k, v in os.environ.items() if k.startswith("BENTOML")}


def test_two_pipelines_build_and_serve_from_one_store(
    pipelines: dict[str, Any], tmp_path: Path
) -> None:
    bentoml_before = bentoml_environment()
    store = BentoStoreResource(home=str(tmp_path / "bentoml"))
    built: dict[str, tuple[StoredBento, dict[str, Any]]] = {}
    for name, (config, days, version) in pipelines.items():
        bundle = make_bundle(config, days, version, tmp_path / name)
        model_tag = f"{name}:v{version}-{bundle['manifest'][:8]}"
        assert not store.has_model(model_tag)
        path = store.import_bundle(model_tag, tmp_path / name / "bundle", {"pipeline": name})
        assert store.has_model(model_tag)
        assert path == store.bundle_path(model_tag)
        assert (path / "metadata.json").is_file()
        bento = store.build(
            model_tag,
            model_tag.split(":")[1],
            {"pipeline": name, "model_version": version},
            f"Champion v{version} of pipeline `{name}`.",
        )
        assert bento.tag == model_tag  # bento named after the service, i.e. the pipeline
        assert bento.model_tag == model_tag
        assert store.find_bento(model_tag) == bento
        built[name] = (bento, bundle)

    # What landed in a bento: its own source, its argument, pinned packages, a Dockerfile.
    bento, _ = built["machine_failures"]
    info = yaml.safe_load((bento.path / "bento.yaml").read_text())
    assert info["args"] == {"model": bento.model_tag}
    assert info["labels"] == {"pipeline": "machine_failures", "model_version": "1"}
    assert (bento.path / "README.md").read_text() == "Champion v1 of pipeline `machine_failures`."
    assert [m["tag"] for m in info["services"][0]["models"]] == [bento.model_tag]
    sources = {p.relative_to(bento.path / "src").as_posix() for p in bento.path.rglob("src/**/*")}
    assert {"bentos/service.py", "bentos/image.py", "ml_assets/lib/scoring.py"} <= sources
    assert not any(s.startswith(("tests", "var", ".venv", "resources")) for s in sources)
    requirements = (bento.path / "env" / "python" / "requirements.txt").read_text().split()
    assert set(serving_pins()) <= set(requirements)
    assert "python:3.11" in bento.dockerfile.read_text()

    assert store.find_bento("machine_failures:no-such-version") is None
    assert bentoml_environment() == bentoml_before

    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(served(store, bento, tmp_path / name / "serve.log"))
            for name, (bento, _) in built.items()
        }
        deadline = time.monotonic() + 120
        for name, url in urls.items():
            wait_ready(url, tmp_path / name / "serve.log", deadline)
        for name, url in urls.items():
            _, bundle = built[name]
            config, _, version = pipelines[name]
            metadata = httpx.post(f"{url}/metadata", json={}, timeout=10).json()
            assert metadata["pipeline"] == name
            assert metadata["version"] == version
            assert metadata["manifest_sha256"] == bundle["manifest"]
            answer = httpx.post(f"{url}/predict", json={"records": bundle["records"]}, timeout=30)
            assert answer.status_code == 200, answer.text
            predictions = answer.json()
            assert len(predictions) == len(bundle["records"])
            for prediction in predictions:
                assert 0.0 <= prediction["probability"] <= 1.0
                assert prediction["label"] == (
                    prediction["probability"] >= 0.5  # no threshold in this bundle: 0.5
                )
                assert prediction["model_version"] == version
            # The other pipeline's record is not this service's schema.
            other = next(b for n, (_, b) in built.items() if n != name)["records"][:1]
            refused = httpx.post(f"{url}/predict", json={"records": other}, timeout=10)
            assert refused.status_code == 400
    assert bentoml_environment() == bentoml_before


def test_a_bento_without_a_model_argument_fails_saying_how_to_give_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-f", "bentos/bentofile.yaml", "."],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "BENTOML_HOME": str(tmp_path / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "PYTHONPATH": str(PROJECT_ROOT),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "needs the BentoML model it serves, as the bento argument `model`" in output
    assert "--arg model=<name:version>" in output
    assert not (tmp_path / "bentoml" / "bentos").exists() or not any(
        (tmp_path / "bentoml" / "bentos").iterdir()
    )

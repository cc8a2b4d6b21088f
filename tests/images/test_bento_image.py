"""The champion's serving image: a champion trained by the platform's own train job, its
bento built into an image with podman (bentos/Dockerfile on the tier's base) and run on
127.0.0.1, answering /predict with what the platform scores in process."""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance

from ml_assets.lib.config import PipelineConfig
from ml_assets.lib.request_model import record_model
from ml_assets.lib.scoring import read_bundle_config
from resources.bento_image import write_context
from resources.bento_store import BentoStoreResource
from tests.helpers import run_days
from tests.images.podman import build, container, image_size
from tests.processes import free_port, wait_ready
from tests.served_champion import bento_rows, records
from tests.test_model_lifecycle import XGBOOST, Lifecycle

IMAGE = "localhost/mlap-bento:test"
SCORED_DAY = "2013-03-18"


@pytest.fixture(scope="module")
def champion(flight_config: PipelineConfig, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """flight_delays trained on March 2013 by the train job: the champion's bento tag."""
    state = tmp_path_factory.mktemp("champion")
    with DagsterInstance.ephemeral() as instance:
        life = Lifecycle(flight_config, state, instance)
        ingest = run_days(
            life.defs(flight_config), "flight_delays", "2013-03-01", SCORED_DAY, instance
        )
        assert ingest.success
        trained = life.train(XGBOOST)
        assert trained.success
    return {"state": state, **bento_rows(trained)}


@pytest.fixture(scope="module")
def image(
    champion: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    store = BentoStoreResource(home=os.environ["BENTOML_HOME"])
    folder = tmp_path_factory.mktemp("bento-image")
    context = write_context(store, champion["bento_tag"], folder / "context")
    seconds = build(context, IMAGE, folder / "build.log")
    # The tier's measurement, shown past pytest's capture (make test-images prints it).
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        size = image_size(IMAGE) / 1e9
        print(f"\nbento image {IMAGE}: built in {seconds:.0f} s, {size:.2f} GB")
    yield IMAGE


def test_bento_image_holds_its_model(champion: dict[str, Any], tmp_path: Path) -> None:
    """The context carries the model the bento names (a stored bento only references it)."""
    store = BentoStoreResource(home=os.environ["BENTOML_HOME"])
    context = write_context(store, champion["bento_tag"], tmp_path / "context")
    name, version = champion["bento_tag"].split(":")
    model = context / "bento" / "models" / name / version
    assert (model / "metadata.json").is_file(), sorted(p.name for p in context.rglob("*"))
    constraints = (context / "constraints.txt").read_text().splitlines()
    assert any(line.startswith("xgboost==") for line in constraints)
    assert not any(line.lower().startswith("ml-assets-platform") for line in constraints)


def test_served_container_scores_as_the_platform(
    champion: dict[str, Any], image: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "container.log"
    with container(image, ["--host", "127.0.0.1", "--port", str(port)], log) as process:
        wait_ready(url, log, time.monotonic() + 240, path="/readyz", process=process)
        sent, _ = records(champion["state"], SCORED_DAY)
        answer = httpx.post(f"{url}/predict", json={"records": sent}, timeout=60)
        assert answer.status_code == 200, answer.text
        served = answer.json()
        metadata = httpx.post(f"{url}/metadata", json={}, timeout=30).json()

    store = BentoStoreResource(home=os.environ["BENTOML_HOME"])
    model_tag = champion["bento_tag"]  # the bento is named and versioned after its model
    bundle = store.bundle_path(model_tag)
    record = record_model(read_bundle_config(bundle))
    scorer = store.scorer(model_tag)
    rows = [vars(record.model_validate(r)) for r in sent]
    scored = scorer.score(scorer.events_frame(rows))

    assert len(served) == len(sent) == len(scored) > 100
    assert [p["probability"] for p in served] == scored["probability"].tolist()
    assert [p["label"] for p in served] == scored["label"].tolist()
    assert {p["model_version"] for p in served} == {scorer.model_version}
    assert metadata["version"] == champion["model_version"] == scorer.model_version

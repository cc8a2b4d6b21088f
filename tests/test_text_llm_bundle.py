"""Tier 1 of the LLM champion: its verified bundle (the template file, the endpoint, the
key's variable name and never the key), scored against the stand-in OpenAI-compatible
server on 127.0.0.1 (tests/llm_server.py) with serving's semantics (an answer that is not
one label, a dropped connection, no key: errors, never a label), and the text service's
inference log rows of its answers."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.artifacts import ArtifactIntegrityError
from ml_assets.lib.config import PipelineConfig, load_pipeline_config
from ml_assets.lib.config.text import LlmConfig
from ml_assets.lib.inference_errors import FailedRequest, error_frame
from ml_assets.lib.inference_log import ScoredBatch
from ml_assets.lib.text.bundle import TextScorer, write_text_bundle
from ml_assets.lib.text.encoders import encode_checked, load_encoder
from ml_assets.lib.text.examples import build_example_store
from ml_assets.lib.text.llm import LlmAnswerError, LlmUnavailableError, MissingApiKeyError
from ml_assets.lib.text.served_log import text_log_frame, text_request_rows
from tests.llm_server import LlmServer, answer_of, llm_server, text_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]
YAML = PROJECT_ROOT / "configs" / "examples" / "tweet_devices.yaml"
TEMPLATE = PROJECT_ROOT / "configs" / "prompts" / "tweet_devices.yaml"
KEY, VARIABLE = "sk-bundle-5e1d", "LLM_BUNDLE_TEST_KEY"


@pytest.fixture(scope="module")
def server() -> Iterator[LlmServer]:
    with llm_server(api_key=KEY) as running:
        yield running


def _config(server: LlmServer) -> PipelineConfig:
    config = load_pipeline_config(YAML)
    assert config.text is not None
    llm = LlmConfig(
        prompt="tweet_devices",
        base_url=server.url,
        model="stand-in",
        api_key_env=VARIABLE,
        examples=2,
        timeout_seconds=1.0,
    )
    text = config.text.model_copy(update={"llm": llm, "prompts": str(TEMPLATE.parent)})
    return config.model_copy(update={"text": text})


@pytest.fixture(scope="module")
def bundle(server: LlmServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = pd.read_parquet(PROJECT_ROOT / "configs" / "examples" / "data" / "trump_tweets.parquet")
    raw = raw[raw["created_at"].between("2016-02-01", "2016-02-08", inclusive="left")]
    config = _config(server)
    raw = raw.assign(device=raw["source"].map(config.target.mapping))  # type: ignore[union-attr]
    store = build_example_store(raw, text_column="text", label_column="device", id_columns=["id"])
    encoder = load_encoder("wordllama")
    folder = tmp_path_factory.mktemp("llm") / "bundle"
    write_text_bundle(
        folder,
        model=None,
        family="llm_few_shot",
        config=config,
        encoder_name=encoder.name,
        examples=store.examples,
        embeddings=encode_checked(encoder, store.examples["text"].tolist()),
        metadata={"classes": ["android", "iphone", "web_client"], "version": "7"},
    )
    return folder


def test_an_llm_bundle_holds_the_template_and_endpoint_but_not_the_key(
    bundle: Path, server: LlmServer
) -> None:
    scorer = TextScorer.from_bundle(bundle, api_key=KEY)
    assert scorer.loaded is None and scorer.llm is not None
    assert scorer.llm.template.name == "tweet_devices"
    assert (bundle / "prompt.yaml").read_bytes() == TEMPLATE.read_bytes()
    assert scorer.document["llm"]["api_key_env"] == VARIABLE
    assert scorer.document["llm"]["base_url"] == server.url
    files = [f for f in bundle.rglob("*") if f.is_file()]
    assert len(files) == 5 and not [f for f in files if KEY.encode() in f.read_bytes()]
    # The template is part of the verified files.
    (bundle / "prompt.yaml").write_bytes(TEMPLATE.read_bytes().replace(b"exactly", b"only"))
    try:
        with pytest.raises(ArtifactIntegrityError, match=r"prompt\.yaml"):
            TextScorer.from_bundle(bundle, api_key=KEY)
    finally:
        (bundle / "prompt.yaml").write_bytes(TEMPLATE.read_bytes())


def test_an_llm_bundle_answers_the_endpoint_label_or_raises(
    bundle: Path, server: LlmServer
) -> None:
    scorer = TextScorer.from_bundle(bundle, api_key=KEY)
    seen = len(server.requests)
    (answer,) = scorer.predict(["Thank you Iowa! Make America Great Again!"], k=3)
    (request,) = server.requests[seen:]
    messages = request["body"]["messages"]
    assert text_of(messages) == "Thank you Iowa! Make America Great Again!"
    assert answer["label"] == answer_of(messages) and answer["probability"] == 1.0
    assert len(answer["nearest_examples"]) == 3 and len(answer["prompt_examples"]) == 2
    stored = scorer.examples.set_index("example_id")
    for example_id in answer["prompt_examples"]:
        assert f"Text: {stored.loc[example_id, 'text']}\n" in messages[-1]["content"]
    for failure, error, message in [
        ("prose", LlmAnswerError, "names none"),
        ("status", LlmAnswerError, "HTTP 500"),
        ("drop", LlmUnavailableError, "unreachable"),
    ]:
        server.failure = failure
        try:
            with pytest.raises(error) as raised:
                scorer.predict(["Thank you Iowa!"])
        finally:
            server.failure = None
        assert message in raised.value.reason and server.url not in raised.value.reason
    keyless = TextScorer.from_bundle(bundle)
    assert keyless.llm is not None and keyless.llm.missing_key == VARIABLE
    with pytest.raises(MissingApiKeyError, match=VARIABLE):
        keyless.predict(["Thank you Iowa!"])
    # The drift reference takes the stored labels, asking nothing.
    seen = len(server.requests)
    assert keyless.reference_classes() == keyless.examples["label"].astype(str).tolist()
    assert len(server.requests) == seen


def test_the_text_inference_log_has_a_row_per_answered_text(bundle: Path) -> None:
    scorer = TextScorer.from_bundle(bundle, api_key=KEY)
    texts = ["Thank you Iowa!", "Crooked Hillary", "Join me in Ohio tomorrow"]
    answers = scorer.predict(texts)
    served = datetime(2016, 3, 1, 23, 30, tzinfo=UTC)
    first = ScoredBatch(
        request_id="a",
        served_at=served,
        route="/predict",
        latency_ms=12.5,
        model_version="7",
        model_tag="t:v7",
        arm="champion",
        rows=2,
        records=texts[:2],
        columns=None,
        outputs=answers[:2],
    )
    second = replace(
        first, request_id="b", latency_ms=3.0, rows=1, records=texts[2:], outputs=answers[2:]
    )
    batches = [first, second]
    frame = text_log_frame(batches, scorer.config)
    assert frame["input_text"].tolist() == texts
    assert frame["output_label"].tolist() == [a["label"] for a in answers]
    assert frame["record"].tolist() == [0, 1, 0] and frame["request_id"].tolist() == list("aab")
    assert frame["latency_ms"].tolist() == [12.5, 12.5, 3.0]
    assert set(frame["event_date"]) == {"2016-03-01"}  # served day in the pipeline's zone
    assert [list(ids) for ids in frame["output_prompt_examples"]] == [
        a["prompt_examples"] for a in answers
    ]
    assert np.all(frame["output_probability"] == 1.0)
    with pytest.raises(ValueError, match="3 answers for 2 texts"):
        text_log_frame([replace(first, outputs=answers)], scorer.config)
    # A request the service failed to answer: one errors row, dated as its texts would be.
    failed = FailedRequest(
        request_id="c",
        served_at=served,
        route="/predict",
        latency_ms=30.0,
        model_version="7",
        model_tag="t:v7",
        arm="champion",
        rows=2,
        records=texts[:2],
        columns=None,
        status=503,
        error_id="e1",
    )
    errors = error_frame([failed], scorer.config, text_request_rows)
    assert errors[["request_id", "status", "error_id", "rows", "event_date"]].values.tolist() == [
        ["c", 503, "e1", 2, "2016-03-01"]
    ]

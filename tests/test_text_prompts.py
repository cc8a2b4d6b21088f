"""Prompt templates (validation, versions, rendering) and the LLM classifier against a
real OpenAI-compatible HTTP server on 127.0.0.1 (tests/llm_server.py) that answers from
the prompt: the prompt it received is checked (examples chosen by similarity, the
template version, the label list)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config import ConfigError, load_pipeline_config
from ml_assets.lib.text.classifiers import nearest
from ml_assets.lib.text.encoders import encode_checked, load_encoder
from ml_assets.lib.text.llm import LlmClassifier, LlmError, parse_label
from ml_assets.lib.text.prompts import PromptError, load_prompt
from tests.llm_server import LlmServer, answer_of, llm_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = PROJECT_ROOT / "configs" / "prompts" / "tweet_devices.yaml"
CLASSES = ("android", "iphone", "web_client")

GOOD = """format: chat
messages:
  - {role: system, content: "Answer with one of: {labels}."}
  - {role: user, content: "{examples}\\n\\nText: {text}\\nLabel:"}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("{examples}", "{example}"), r"undefined variable \{example\}"),
        (GOOD.replace("one of: {labels}", "a device"), r"no \{labels\} placeholder"),
        (GOOD.replace("Text: {text}", "Text:"), r"no \{text\} placeholder"),
        (GOOD.replace("format: chat", "format: dialogue"), "'dialogue' is not one of"),
        (GOOD.replace("{labels}.", "{labels."), "expected '}'"),
        (GOOD.replace("{labels}", "{labels!r}"), "takes no format spec"),
        (GOOD.replace("role: system", "role: robot"), "'robot' is not one of"),
        ("format: completion\nmessages: []\n", "needs a non-empty `template`"),
        (GOOD + "temperature: 0\n", r"unknown key\(s\): temperature"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_a_broken_template_names_what_is_wrong(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(PromptError, match=message) as caught:
        load_prompt(path)
    assert str(path) in str(caught.value)


def test_the_version_is_the_file_content(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(GOOD)
    first = load_prompt(path)
    assert first.name == "t" and first.variables == ("labels", "examples", "text")
    assert load_prompt(path).version == first.version
    path.write_text(GOOD.replace("one of", "exactly one of"))
    assert load_prompt(path).version != first.version
    instruction = tmp_path / "i.yaml"
    instruction.write_text('format: instruction\ntemplate: "Labels: {labels}. {text}"\n')
    rendered = load_prompt(instruction).render(labels=CLASSES, examples=[], text="hi")
    assert rendered == [{"role": "user", "content": "Labels: android, iphone, web_client. hi"}]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("iphone", 1),
        (" Android.\n", 0),
        ("The label is web_client", 2),
        ("android or iphone", None),
        ("blackberry", None),
        ("", None),
    ],
)
def test_an_answer_is_one_label_or_invalid(answer: str, expected: int | None) -> None:
    assert parse_label(answer, CLASSES) == expected


@pytest.fixture(scope="module")
def store() -> tuple[list[str], list[str], np.ndarray]:
    """Real labelled tweets of early 2016 and their wordllama vectors."""
    raw = pd.read_parquet(PROJECT_ROOT / "configs" / "examples" / "data" / "trump_tweets.parquet")
    raw = raw[raw["created_at"].between("2016-02-01", "2016-02-15", inclusive="left")]
    device = raw["source"].map({"Twitter for Android": "android", "Twitter for iPhone": "iphone"})
    raw = raw[device.notna()].assign(label=device)
    texts = raw["text"].tolist()
    return texts, raw["label"].tolist(), encode_checked(load_encoder("wordllama"), texts)


def test_the_llm_classifier_sends_the_most_similar_examples_and_parses_the_answer(
    store: tuple[list[str], list[str], np.ndarray],
) -> None:
    texts, labels, vectors = store
    template = load_prompt(TEMPLATE)
    queries, stored = slice(0, 5), slice(5, None)
    with llm_server(api_key="secret") as server:
        classifier = LlmClassifier(
            template=template,
            classes=CLASSES,
            base_url=server.url,
            model="stand-in",
            api_key="secret",
            examples=3,
        )
        proba = classifier.predict(
            texts[queries], vectors[queries], texts[stored], labels[stored], vectors[stored]
        )
    assert len(server.requests) == 5 == classifier.requests
    chosen = nearest(vectors[queries], vectors[stored], 3).positions
    for i, request in enumerate(server.requests):
        body = request["body"]
        assert request["headers"]["Authorization"] == "Bearer secret"
        assert body["model"] == "stand-in" and body["temperature"] == 0
        assert body["metadata"] == {
            "prompt_template": "tweet_devices",
            "prompt_version": template.version,
        }
        system, user = (m["content"] for m in body["messages"])
        assert system.endswith("android, iphone, web_client.")
        shown = [texts[stored][p] for p in chosen[i]]
        positions = [
            user.index(f"Text: {t}\nLabel: {labels[stored][p]}")
            for t, p in zip(shown, chosen[i], strict=True)
        ]
        assert positions == sorted(positions)  # most similar first
        assert user.endswith(f"Text: {texts[i]}\nLabel:")
        # The server's answer (the examples' majority label) is the class returned.
        expected = CLASSES.index(answer_of(body["messages"]))
        assert proba[i, expected] == 1.0 and proba[i].sum() == 1.0
    assert classifier.invalid_answers == 0


def test_a_batch_is_asked_with_requests_in_flight_at_once_and_answered_in_order(
    store: tuple[list[str], list[str], np.ndarray],
) -> None:
    texts, labels, vectors = store
    template = load_prompt(TEMPLATE)
    queries, stored = slice(0, 12), slice(12, None)

    def ask(concurrency: int, server: LlmServer) -> np.ndarray:
        classifier = LlmClassifier(
            template, CLASSES, server.url, "m", examples=3, concurrency=concurrency
        )
        proba = classifier.predict(
            texts[queries], vectors[queries], texts[stored], labels[stored], vectors[stored]
        )
        assert classifier.requests == 12
        return proba

    with llm_server(api_key=None) as server:
        one_by_one = ask(1, server)
        assert server.most_at_once == 1
        server.delay_seconds = 0.1  # long enough for the requests to overlap
        at_once = ask(4, server)
        assert server.most_at_once == 4
    np.testing.assert_array_equal(at_once, one_by_one)  # the same answers, in order
    # The endpoint answers by the prompt: each row is its own text's answer.
    assert one_by_one.argmax(axis=1).tolist() == [
        CLASSES.index(answer_of(r["body"]["messages"])) for r in server.requests[:12]
    ]


def test_a_failure_in_a_batch_asked_at_once_is_raised(
    store: tuple[list[str], list[str], np.ndarray],
) -> None:
    texts, labels, vectors = store
    template = load_prompt(TEMPLATE)
    with llm_server(api_key=None) as server:
        server.failure = "status"
        classifier = LlmClassifier(template, CLASSES, server.url, "m", concurrency=4)
        with pytest.raises(LlmError, match="answered 500"):
            classifier.predict(texts[:8], vectors[:8], texts[8:], labels[8:], vectors[8:])


def test_invalid_answers_are_counted_and_a_refused_key_is_an_error(
    store: tuple[list[str], list[str], np.ndarray],
) -> None:
    texts, labels, vectors = store
    template = load_prompt(TEMPLATE)
    with llm_server(api_key=None) as server:
        # Examples labelled outside the classes: the server answers a label that is not one.
        classifier = LlmClassifier(template, CLASSES, server.url, "m", examples=2)
        proba = classifier.predict(
            texts[:2], vectors[:2], texts[2:], ["fax"] * (len(texts) - 2), vectors[2:]
        )
    assert classifier.invalid_answers == 2
    assert np.allclose(proba, 1 / 3)
    with llm_server(api_key="right") as server:
        wrong = LlmClassifier(template, CLASSES, server.url, "m", api_key="wrong")
        with pytest.raises(LlmError, match="answered 401"):
            wrong.predict(texts[:1], vectors[:1], texts[1:], labels[1:], vectors[1:])


def test_a_broken_template_is_a_load_error_of_its_pipeline(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "devices.yaml").write_text(GOOD.replace("{examples}", "{shots}"))
    yaml_text = (PROJECT_ROOT / "configs" / "examples" / "tweet_devices.yaml").read_text()
    yaml_text = (
        yaml_text.replace("extends: ../pipelines/_defaults.yaml\n", "")
        .replace(
            "path: data/trump_tweets.parquet",
            f"path: {PROJECT_ROOT / 'configs/examples/data/trump_tweets.parquet'}",
        )
        .replace(
            "  neighbours: 5\n",
            "  neighbours: 5\n  prompts: prompts\n  llm: {prompt: "
            "devices, base_url: 'http://127.0.0.1:9/v1', model: m}\n",
        )
    )
    path = tmp_path / "tweet_devices.yaml"
    path.write_text(yaml_text)
    with pytest.raises(
        ConfigError,
        match=r"(?s)text\.llm\.prompt: .*messages\.1\.content: undefined variable \{shots\}",
    ):
        load_pipeline_config(path)

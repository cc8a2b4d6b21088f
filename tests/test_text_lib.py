"""Tier 1 of text classification: the example store's quarantine and version, encoders
(wordllama offline, a team's own by `module:Class`), nearest examples, the text families,
the verified text bundle and the config errors of a text pipeline."""

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.artifacts import ArtifactIntegrityError
from ml_assets.lib.config import ConfigError, load_pipeline_config
from ml_assets.lib.problems import problem_for
from ml_assets.lib.text.bundle import TextScorer, write_text_bundle
from ml_assets.lib.text.classifiers import build_text_model, class_probabilities, nearest
from ml_assets.lib.text.encoders import encode_checked, load_encoder
from ml_assets.lib.text.examples import build_example_store

PROJECT_ROOT = Path(__file__).resolve().parents[1]
YAML = PROJECT_ROOT / "configs" / "examples" / "tweet_devices.yaml"
TWEETS = PROJECT_ROOT / "configs" / "examples" / "data" / "trump_tweets.parquet"


class HashingEncoder:
    """A team's own encoder: hashed bag of words, 64 dims (plugged in by name)."""

    name = "hashing-64"
    dim = 64

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype="float32")
        for i, text in enumerate(texts):
            for word in str(text).lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


class NotAnEncoder:
    name = "broken"


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["1", "2", "3", "4", "5", "6"],
            "text": ["Make it  great", "  ", None, "make IT great", "Thank you Iowa!", "Bad"],
            "device": ["android", "iphone", "android", "iphone", None, "android"],
            "window": ["train"] * 6,
        }
    )


def test_the_example_store_quarantines_empty_unlabelled_and_duplicate_texts() -> None:
    store = build_example_store(
        _rows(),
        text_column="text",
        label_column="device",
        id_columns=["id"],
        keep_columns=["window"],
    )
    assert list(store.examples["example_id"]) == ["1", "6"]
    assert list(store.examples["text"]) == ["Make it great", "Bad"]
    reasons = dict(zip(store.quarantine["example_id"], store.quarantine["reason"], strict=True))
    assert reasons == {"2": "empty", "3": "empty", "4": "duplicate", "5": "unlabelled"}
    assert store.counts() == {"kept": 2, "empty": 2, "unlabelled": 1, "duplicate": 1}
    # min_chars: "Bad" is too short at 4.
    shorter = build_example_store(
        _rows(), text_column="text", label_column="device", id_columns=["id"], min_chars=4
    )
    assert "6" in set(shorter.quarantine["example_id"])


def test_the_store_version_is_its_content() -> None:
    def version(rows: pd.DataFrame) -> str:
        return build_example_store(rows, text_column="text", label_column="device").version

    rows = _rows()
    assert version(rows) == version(rows.copy())
    changed = rows.copy()
    changed.loc[5, "device"] = "iphone"
    assert version(changed) != version(rows)
    # A quarantined row's text does not move the version of the kept examples.
    blank = rows.copy()
    blank.loc[1, "text"] = "\t"
    assert version(blank) == version(rows)


def test_bad_example_rows_are_named() -> None:
    with pytest.raises(KeyError, match="columns missing from the example rows: tweet"):
        build_example_store(_rows(), text_column="tweet", label_column="device")
    rows = _rows().assign(id=["1", "1", "3", "4", "5", "6"], text=list("abcdef"))
    with pytest.raises(ValueError, match="example ids repeat"):
        build_example_store(rows, text_column="text", label_column="device", id_columns=["id"])


def test_wordllama_embeds_offline_into_unit_vectors_that_rank_by_meaning() -> None:
    encoder = load_encoder("wordllama")
    assert encoder is load_encoder("wordllama")  # built once per process
    texts = ["the economy is growing fast", "strong economic growth", "I love my dog", "?!"]
    vectors = encode_checked(encoder, texts)
    assert vectors.shape == (4, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    found = nearest(vectors[:1], vectors[1:3], k=2)
    assert list(found.positions[0]) == [0, 1]  # growth before the dog
    assert found.similarities[0, 0] > found.similarities[0, 1]
    assert encode_checked(encoder, []).shape == (0, 256)


def test_a_team_plugs_in_its_own_encoder_by_name() -> None:
    encoder = load_encoder("tests.test_text_lib:HashingEncoder")
    assert encoder.name == "hashing-64"
    assert encode_checked(encoder, ["a b", "c"]).shape == (2, 64)
    with pytest.raises(ValueError, match="cannot be imported"):
        load_encoder("tests.test_text_lib:Missing")
    with pytest.raises(ValueError, match="is not a TextEncoder"):
        load_encoder("tests.test_text_lib:NotAnEncoder")


@pytest.fixture(scope="module")
def tweets() -> tuple[pd.DataFrame, np.ndarray]:
    """Two months of real tweets of 2016 with a class, as an example store, embedded."""
    config = load_pipeline_config(YAML)
    raw = pd.read_parquet(TWEETS)
    raw = raw[raw["created_at"].between("2016-02-01", "2016-03-31", inclusive="left")]
    raw = raw.assign(device=raw["source"].map(config.target.mapping))  # type: ignore[union-attr]
    store = build_example_store(raw, text_column="text", label_column="device", id_columns=["id"])
    vectors = encode_checked(load_encoder("wordllama"), store.examples["text"].tolist())
    return store.examples, vectors


@pytest.mark.parametrize("family", ["embedding_classifier", "tfidf_logistic_regression"])
def test_text_families_learn_the_device_and_round_trip_through_a_verified_bundle(
    family: str, tweets: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    config = load_pipeline_config(YAML)
    problem = problem_for(config)
    examples, vectors = tweets
    half = len(examples) // 2
    truth = problem.truth(examples["label"])
    inputs = vectors if family == "embedding_classifier" else examples["text"].tolist()
    model = build_text_model(family, {"C": 1.0}, seed=1)
    model.fit(inputs[:half], truth[:half])
    proba = class_probabilities(model, inputs[half:], len(problem.classes))
    score = problem.score(truth[half:], proba)
    assert score is not None and score > 0.6
    write_text_bundle(
        tmp_path / "bundle",
        model=model,
        family=family,
        config=config,
        encoder_name=load_encoder("wordllama").name,
        examples=examples.iloc[:half],
        embeddings=vectors[:half],
        metadata={"classes": list(problem.classes), "version": "t1"},
    )
    scorer = TextScorer.from_bundle(tmp_path / "bundle")
    texts = examples["text"].iloc[half : half + 3].tolist()
    answers = scorer.predict(texts, k=3)
    expected = proba[:3]
    for answer, row in zip(answers, expected, strict=True):
        assert answer["label"] == problem.classes[int(row.argmax())]
        assert answer["probability"] == pytest.approx(row.max())
        assert len(answer["nearest_examples"]) == 3
        assert set(answer["nearest_examples"][0]) == {"example_id", "label", "similarity"}
    # A stored example is its own nearest example.
    first = examples.iloc[0]
    assert (
        scorer.predict([first["text"]])[0]["nearest_examples"][0]["example_id"]
        == first["example_id"]
    )
    with pytest.raises(ValueError, match="text 1 is empty"):
        scorer.predict(["fine", "   "])


def test_a_changed_bundle_file_is_refused(
    tweets: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    config = load_pipeline_config(YAML)
    examples, vectors = tweets
    model = build_text_model("embedding_classifier", {}, seed=1)
    model.fit(vectors, problem_for(config).truth(examples["label"]))
    folder = tmp_path / "bundle"
    write_text_bundle(
        folder,
        model=model,
        family="embedding_classifier",
        config=config,
        encoder_name=load_encoder("wordllama").name,
        examples=examples,
        embeddings=vectors,
        metadata={"classes": list(problem_for(config).classes)},
    )
    np.save(folder / "embeddings.npy", np.zeros_like(vectors), allow_pickle=False)
    with pytest.raises(ArtifactIntegrityError, match=r"embeddings\.npy"):
        TextScorer.from_bundle(folder)
    with pytest.raises(ValueError, match="the bundle's vectors come from"):
        write_text_bundle(
            tmp_path / "other",
            model=model,
            family="embedding_classifier",
            config=config,
            encoder_name="another-encoder",
            examples=examples,
            embeddings=vectors,
            metadata={"classes": list(problem_for(config).classes)},
        )
        TextScorer.from_bundle(tmp_path / "other")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  text_column: text\n", "  text_column: tweet\n", "'tweet' is not a column"),
        ("  text_column: text\n", "  text_column: retweet_count\n", "must be str, not int"),
        ("  text_column: text\n", "  text_column: source\n", "cannot also be the label"),
        ("[created_at, is_retweet]", "[created_at, place]", "'place' is not a column"),
        ("  encoder: wordllama\n", "  encoder: bert base\n", "neither `wordllama`"),
        (
            "    embedding_classifier:\n",
            "    xgboost: {}\n    embedding_classifier:\n",
            "xgboost is not a text_classification candidate",
        ),
        (
            "    min_rows: 10\n  performance:",
            "    min_rows: 10\n    ignore_columns: [hour]\n  performance:",
            r"monitoring\.drift\.ignore_columns\.0.*not a text drift signal",
        ),
        (
            "  drift:\n",
            "  drift:\n    columns: {embeddings: {method: ks}}\n",
            "not a text drift signal with a stat test",
        ),
        (
            "  performance:\n",
            "  performance:\n    metric: rmse\n",
            "'rmse' is not a text classification metric",
        ),
    ],
)
def test_a_broken_text_pipeline_names_the_key(
    old: str, new: str, message: str, tmp_path: Path
) -> None:
    text = YAML.read_text()
    assert old in text
    bad = tmp_path / "tweet_devices.yaml"
    bad.write_text(
        text.replace(old, new, 1)
        .replace("extends: ../pipelines/_defaults.yaml\n", "")
        .replace("path: data/trump_tweets.parquet", f"path: {TWEETS}")
    )
    with pytest.raises(ConfigError, match=message):
        load_pipeline_config(bad)


def test_the_few_shot_curve_fits_k_examples_per_class(
    tweets: tuple[pd.DataFrame, np.ndarray],
) -> None:
    from ml_assets.lib.text.selection import few_shot_curve, windows_of

    config = load_pipeline_config(YAML)
    problem = problem_for(config)
    examples, vectors = tweets
    # Three windows in time order: the first half trains, the next quarters validate and test.
    n = len(examples)
    window = np.where(np.arange(n) < n // 2, "train", "validation")
    window[3 * n // 4 :] = "test"
    windows = windows_of(examples.assign(window=window), vectors, "window", problem)
    curve = few_shot_curve(windows, problem, {"C": 1.0}, seed=3, sizes=(1, 4, 16, 10_000))
    fitted = np.concatenate([windows.train[2], windows.validation[2]])
    per_class = np.bincount(fitted, minlength=len(problem.classes))
    assert [row["examples_per_class"] for row in curve] == [1, 4, 16, "all"]
    for row in curve[:-1]:
        k = int(row["examples_per_class"])
        assert row["rows"] == int(np.minimum(per_class[per_class > 0], k).sum())
    assert curve[-1]["rows"] == len(fitted)
    assert all(0 <= row["roc_auc_ovr"] <= 1 for row in curve)
    # Every example beats one per class on these tweets.
    assert curve[-1]["roc_auc_ovr"] > curve[0]["roc_auc_ovr"]

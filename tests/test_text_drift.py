"""Drift of texts against a champion's examples (ml_assets.lib.text.monitoring), on real
tweets (configs/examples/data/trump_tweets.parquet) embedded offline by wordllama."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config.monitoring import CalibrationConfig, DriftConfig, StatTest
from ml_assets.lib.text.encoders import load_encoder
from ml_assets.lib.text.monitoring import SIGNALS, TextReference, text_drift, text_reference
from tests.flows import PROJECT_ROOT

TWEETS = PROJECT_ROOT / "configs" / "examples" / "data" / "trump_tweets.parquet"
POLICY = DriftConfig(min_rows=10, calibration=CalibrationConfig(min_days=3))


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    frame = pd.read_parquet(TWEETS)
    frame["day"] = pd.to_datetime(frame["created_at"]).dt.date.astype(str)
    return frame.rename(columns={"id": "example_id"})


@pytest.fixture(scope="module")
def encoder() -> Any:
    return load_encoder("wordllama")


def _between(tweets: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    return tweets[(tweets["day"] >= first) & (tweets["day"] <= last)].reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tweets: pd.DataFrame, encoder: Any) -> TextReference:
    """Six weeks of the 2016 campaign; the posting device stands in for a prediction."""
    examples = _between(tweets, "2016-06-01", "2016-07-15")
    vectors = encoder.encode(examples["text"].tolist())
    return text_reference(examples, vectors, examples["source"].tolist()).calibrated(POLICY)


def _judge(
    reference: TextReference, encoder: Any, rows: pd.DataFrame, policy: DriftConfig = POLICY
) -> Any:
    texts: Sequence[str] = rows["text"].tolist()
    return text_drift(reference, texts, encoder.encode(texts), rows["source"].tolist(), policy)


def test_thresholds_are_calibrated_on_whole_held_out_days(reference: TextReference) -> None:
    assert reference.calibrated_days >= 3
    assert set(reference.thresholds) == set(SIGNALS)
    # A held-out day's own signals are not in the vocabulary's half of the days.
    assert 0 < reference.signals["unknown_word_share"].mean() < 1
    table = reference.table(POLICY).set_index("signal")
    assert set(table["source"]) == {"calibrated"}
    configured = POLICY.model_copy(
        update={"columns": {"text_length": StatTest(method="ks", threshold=0.01)}}
    )
    table = reference.table(configured).set_index("signal")
    assert table.loc["text_length", "source"] == "configured"
    assert table.loc["text_length", "threshold"] == 0.01


def test_tweets_of_another_era_drift_on_their_words_and_vectors(
    tweets: pd.DataFrame, encoder: Any, reference: TextReference
) -> None:
    """2009-10: the web client's press-release tweets, nothing like the 2016 campaign."""
    judged = _judge(reference, encoder, _between(tweets, "2009-05-01", "2010-06-01"))
    drifted = judged.signals.set_index("signal")["drifted"]
    assert judged.verdict == "error", judged.reason
    assert drifted["embeddings"] and drifted["unknown_word_share"]


def test_the_next_days_of_the_campaign_mostly_do_not_drift(
    tweets: pd.DataFrame, encoder: Any, reference: TextReference
) -> None:
    later = _between(tweets, "2016-07-16", "2016-08-15")
    verdicts = [
        _judge(reference, encoder, rows).verdict
        for _, rows in later.groupby("day")
        if len(rows) >= POLICY.min_rows
    ]
    assert len(verdicts) >= 5
    assert verdicts.count("error") <= len(verdicts) / 2, verdicts


def test_a_small_day_gets_no_verdict_and_ignored_signals_are_left_out(
    tweets: pd.DataFrame, encoder: Any, reference: TextReference
) -> None:
    day = _between(tweets, "2016-07-20", "2016-07-20")
    small = _judge(reference, encoder, day.head(POLICY.min_rows - 1))
    assert small.verdict == "no_verdict" and small.signals.empty
    ignoring = POLICY.model_copy(update={"ignore_columns": ["embeddings", "predicted_label"]})
    judged = _judge(reference, encoder, _between(tweets, "2016-07-16", "2016-07-31"), ignoring)
    assert list(judged.signals["signal"]) == ["text_length", "unknown_word_share"]


def test_the_same_day_gives_the_same_verdict(
    tweets: pd.DataFrame, encoder: Any, reference: TextReference
) -> None:
    rows = _between(tweets, "2016-07-16", "2016-07-31")
    first, second = _judge(reference, encoder, rows), _judge(reference, encoder, rows)
    pd.testing.assert_frame_equal(first.signals, second.signals)


def test_examples_without_days_are_split_by_id(tweets: pd.DataFrame, encoder: Any) -> None:
    examples = _between(tweets, "2016-07-01", "2016-07-10").drop(columns=["day"])
    vectors = encoder.encode(examples["text"].tolist())
    plain = text_reference(examples, vectors, examples["source"].tolist())
    assert 0 < len(plain.signals) < len(examples)
    assert len(plain.embeddings) == len(plain.signals)
    assert np.isfinite(plain.signals["text_length"]).all()
    with pytest.raises(ValueError, match="differ in length"):
        text_reference(examples, vectors[:-1], examples["source"].tolist())

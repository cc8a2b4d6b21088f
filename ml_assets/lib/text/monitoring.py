"""Drift of a text pipeline's days against its champion's examples.

A day of texts is compared with the examples the champion was fitted on on four signals:

- `embeddings`: Evidently's domain classifier on the embedding vectors (a logistic model
  learns to tell the day's vectors from the reference's on half the rows; its ROC AUC on
  the other half is the score);
- `text_length` (characters) and `unknown_word_share` (per text, the share of its words
  absent from the reference's vocabulary), judged by the pipeline's numerical stat test
  (`monitoring.drift.numerical`; per signal: `monitoring.drift.columns.<signal>`);
- `predicted_label`: the champion's predicted classes, by the categorical stat test.

Every word of an example is in a vocabulary built from it, so the examples' days are split
in two by a stable hash of the day: the vocabulary comes from one half, the reference
signals from the other (held-out) half. Texts of one day share their topics, so a day
differs from a pool of months more than random rows of that pool do: thresholds left unset
are calibrated on whole held-out days (each with at least `min_rows` texts, scored against
the reference without it), the `calibration.quantile` of their scores. With fewer than
`calibration.min_days` such days a column signal keeps its stat test's default threshold
and the embeddings fall back to Evidently's bootstrap verdict (better than 95% of random
scorers on the same split), which flags most real days; the `method` column says which.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_assets.lib.config.monitoring import (
    DISTANCE_METHODS,
    TEXT_SIGNALS,
    DriftConfig,
    StatTest,
)
from ml_assets.lib.drift_stats import ColumnKind, column_score, default_threshold, is_drift

WORD = re.compile(r"\w+")
EMBEDDINGS, TEXT_LENGTH, UNKNOWN_WORDS, PREDICTED_LABEL = TEXT_SIGNALS
COLUMN_SIGNALS: dict[str, ColumnKind] = {
    TEXT_LENGTH: "numerical",
    UNKNOWN_WORDS: "numerical",
    PREDICTED_LABEL: "categorical",
}
SIGNALS = TEXT_SIGNALS
DOMAIN_CLASSIFIER = "domain_classifier_roc_auc"
EMBEDDING_QUANTILE = 0.95  # Evidently's default for its bootstrap mode
# Shares of drifted signals that warn and err when `monitoring.drift` sets none.
SHARE_WARN = 0.3
SHARE_ERROR = 0.5


def words(text: str) -> list[str]:
    """Case-folded words (runs of letters, digits and underscores)."""
    return WORD.findall(text.casefold())


def unknown_word_shares(texts: Sequence[str], vocabulary: frozenset[str]) -> np.ndarray:
    """Per text, the share of its words not in `vocabulary`; NaN for a text without words."""
    shares = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        found = words(text)
        if found:
            shares[i] = sum(w not in vocabulary for w in found) / len(found)
    return shares


def day_signals(
    texts: Sequence[str], predicted: Sequence[str], vocabulary: frozenset[str]
) -> pd.DataFrame:
    """TEXT_LENGTH, UNKNOWN_WORDS and PREDICTED_LABEL of each text."""
    return pd.DataFrame(
        {
            TEXT_LENGTH: [float(len(t)) for t in texts],
            UNKNOWN_WORDS: unknown_word_shares(texts, vocabulary),
            PREDICTED_LABEL: [str(p) for p in predicted],
        }
    )


@dataclass(frozen=True)
class TextReference:
    """What a day is compared with: the vocabulary of half the examples' days, the held-out
    days' signals and vectors, and the calibrated thresholds (signal -> threshold; absent:
    not calibrated) with the number of days they were calibrated on."""

    vocabulary: frozenset[str]
    signals: pd.DataFrame  # column signals per held-out example, indexed by its day
    embeddings: np.ndarray  # vectors of the held-out examples, same order
    thresholds: dict[str, float] = field(default_factory=dict)
    calibrated_days: int = 0

    def calibrated(self, policy: DriftConfig) -> TextReference:
        """The same reference with every unset threshold calibrated (see the module)."""
        thresholds, days = _calibrate(self, policy)
        return TextReference(self.vocabulary, self.signals, self.embeddings, thresholds, days)

    def table(self, policy: DriftConfig) -> pd.DataFrame:
        """One row per signal: its method and threshold (configured, calibrated or the
        default) and how it was set."""
        rows = []
        for signal in SIGNALS:
            test = None if signal == EMBEDDINGS else _test(signal, COLUMN_SIGNALS[signal], policy)
            method, threshold, source = _rule(signal, test, self.thresholds)
            rows.append(
                {"signal": signal, "method": method, "threshold": threshold, "source": source}
            )
        return pd.DataFrame(rows)


def text_reference(
    examples: pd.DataFrame, embeddings: np.ndarray, predicted: Sequence[str]
) -> TextReference:
    """The uncalibrated reference of a champion's examples (`example_id`, `text`, and
    `day` when they have one; their vectors and the champion's predicted class of each,
    in one order). Examples without days are split by id."""
    if not len(examples) == len(embeddings) == len(predicted):
        raise ValueError("examples, embeddings and predictions differ in length")
    if len(examples) < 2:
        raise ValueError(f"{len(examples)} example(s): too few to build a drift reference")
    groups = examples["day"] if "day" in examples else examples["example_id"]
    groups = pd.Series(groups.astype("string").to_numpy())
    held_out = (pd.util.hash_pandas_object(groups, index=False) % 2 == 1).to_numpy()
    if held_out.all() or not held_out.any():  # one day, or an unlucky split: alternate rows
        held_out = np.arange(len(examples)) % 2 == 1
    texts = examples["text"].astype(str).tolist()
    kept = [text for text, held in zip(texts, held_out, strict=True) if not held]
    vocabulary = frozenset(w for text in kept for w in words(text))
    signals = day_signals(
        [text for text, held in zip(texts, held_out, strict=True) if held],
        [p for p, held in zip(predicted, held_out, strict=True) if held],
        vocabulary,
    )
    signals.index = pd.Index(groups[held_out].to_numpy(), name="day")
    vectors = np.asarray(embeddings, dtype="float64")[held_out]
    return TextReference(vocabulary, signals, vectors)


@dataclass(frozen=True)
class TextDrift:
    """One day's verdicts: a row per signal (method, score, threshold, drifted) and the
    share of drifted signals with its severity."""

    signals: pd.DataFrame
    drifted_share: float | None
    verdict: str  # ok / warn / error / no_verdict
    reason: str


def text_drift(
    reference: TextReference,
    texts: Sequence[str],
    embeddings: np.ndarray,
    predicted: Sequence[str],
    policy: DriftConfig,
) -> TextDrift:
    """Judge one day's texts (their vectors and predicted classes) against `reference`.
    Fewer than `policy.min_rows` texts: no verdict."""
    rows = len(texts)
    if rows < policy.min_rows:
        empty = pd.DataFrame(columns=["signal", "method", "score", "threshold", "drifted"])
        return TextDrift(empty, None, "no_verdict", f"{rows} texts, fewer than {policy.min_rows}")
    current = day_signals(texts, predicted, reference.vocabulary)
    ignored = set(policy.ignore_columns)
    found = []
    if EMBEDDINGS not in ignored:
        found.append(_embedding_row(reference, np.asarray(embeddings, dtype="float64")))
    for signal, kind in COLUMN_SIGNALS.items():
        if signal not in ignored:
            test = _test(signal, kind, policy)
            method, threshold, _ = _rule(signal, test, reference.thresholds)
            score = column_score(reference.signals[signal], current[signal], kind, test.method)
            found.append(_row(signal, method, score, threshold))
    table = pd.DataFrame(found)
    judged = table["drifted"].dropna()
    if judged.empty:
        return TextDrift(table, None, "no_verdict", "no signal could be scored")
    share = float(judged.astype(bool).mean())
    warn = policy.share_warn or SHARE_WARN
    error = policy.share_error or SHARE_ERROR
    drifted = ", ".join(table.loc[table["drifted"].fillna(False).astype(bool), "signal"])
    stated = f"{share:.2f} of {len(judged)} signals drifted" + (f" ({drifted})" if drifted else "")
    if share >= error:
        return TextDrift(table, share, "error", f"{stated}; error at {error}")
    if share >= warn:
        return TextDrift(table, share, "warn", f"{stated}; warning at {warn}")
    return TextDrift(table, share, "ok", stated)


def domain_auc(
    reference: np.ndarray, current: np.ndarray, bootstrap: bool = False
) -> tuple[float, bool]:
    """Evidently's domain classifier: ROC AUC of telling `current` from `reference` (its
    split is seeded), and, with `bootstrap`, whether it beats 95% of random scorers."""
    from evidently.metrics.embeddings import ModelDriftMethod

    method = ModelDriftMethod(bootstrap=bootstrap, quantile_probability=EMBEDDING_QUANTILE)
    score, drifted, _ = method(pd.DataFrame(current), pd.DataFrame(reference))
    return float(score), bool(drifted)


def _embedding_row(reference: TextReference, current: np.ndarray) -> dict[str, object]:
    threshold = reference.thresholds.get(EMBEDDINGS)
    score, beats_random = domain_auc(reference.embeddings, current, bootstrap=threshold is None)
    if threshold is None:
        row = _row(EMBEDDINGS, f"{DOMAIN_CLASSIFIER} (bootstrap)", score, None)
        return row | {"drifted": beats_random}
    return _row(EMBEDDINGS, DOMAIN_CLASSIFIER, score, threshold)


def _row(
    signal: str, method: str, score: float | None, threshold: float | None
) -> dict[str, object]:
    drifted = None
    if score is not None and threshold is not None:
        plain = method.split(" ")[0]
        drifted = (
            score >= threshold if plain == DOMAIN_CLASSIFIER else is_drift(plain, score, threshold)
        )
    return {
        "signal": signal,
        "method": method,
        "score": None if score is None else round(float(score), 6),
        "threshold": threshold,
        "drifted": drifted,
    }


def _test(signal: str, kind: ColumnKind, policy: DriftConfig) -> StatTest:
    return policy.columns.get(signal) or (
        policy.numerical if kind == "numerical" else policy.categorical
    )


def _rule(
    signal: str, test: StatTest | None, calibrated: dict[str, float]
) -> tuple[str, float | None, str]:
    """A signal's method, threshold and where the threshold comes from."""
    if test is None:  # the embeddings
        if signal in calibrated:
            return DOMAIN_CLASSIFIER, calibrated[signal], "calibrated"
        return f"{DOMAIN_CLASSIFIER} (bootstrap)", None, "Evidently's bootstrap"
    if test.threshold is not None:
        return test.method, test.threshold, "configured"
    if signal in calibrated:
        return test.method, calibrated[signal], "calibrated"
    return test.method, default_threshold(test.method), "default"


def _calibrate(reference: TextReference, policy: DriftConfig) -> tuple[dict[str, float], int]:
    """Each unset threshold from the held-out days' scores (see the module)."""
    signals = reference.signals
    sizes = signals.groupby(level=0).size()
    days = list(sizes[sizes >= policy.min_rows].index)
    quantile = policy.calibration.quantile
    if len(days) < policy.calibration.min_days:
        return {}, len(days)
    day_of_row = signals.index.to_numpy()
    scores: dict[str, list[float]] = {signal: [] for signal in SIGNALS}
    for day in days:
        mine = day_of_row == day
        auc, _ = domain_auc(reference.embeddings[~mine], reference.embeddings[mine])
        scores[EMBEDDINGS].append(auc)
        for signal, kind in COLUMN_SIGNALS.items():
            method = _test(signal, kind, policy).method
            score = column_score(signals[signal][~mine], signals[signal][mine], kind, method)
            if score is not None:
                scores[signal].append(score)
    thresholds = {}
    for signal, found in scores.items():
        column = COLUMN_SIGNALS.get(signal)
        test = None if column is None else _test(signal, column, policy)
        if (test is not None and test.threshold is not None) or len(found) < len(days) / 2:
            continue
        distance = test is None or test.method in DISTANCE_METHODS
        thresholds[signal] = float(np.quantile(found, quantile if distance else 1 - quantile))
    return thresholds, len(days)

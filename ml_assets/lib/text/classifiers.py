"""The text classifiers: a logistic head on embeddings (with the nearest examples as
evidence), TF-IDF + logistic regression on the words, and the nearest-example search.

Every classifier returns the probability of every class in the problem's `classes` order
(shape (n, K)); a class absent from the training rows gets probability 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TEXT_FAMILIES = ("embedding_classifier", "tfidf_logistic_regression")


@dataclass(frozen=True)
class Neighbours:
    """For each query row, the positions of the `k` most similar stored examples (most
    similar first) and their cosine similarities."""

    positions: np.ndarray
    similarities: np.ndarray


def nearest(queries: np.ndarray, stored: np.ndarray, k: int) -> Neighbours:
    """Cosine nearest neighbours of unit vectors (a dot product), ties by stored order."""
    if len(stored) == 0:
        raise ValueError("no stored examples to search")
    k = min(k, len(stored))
    scores = np.asarray(queries, dtype="float32") @ np.asarray(stored, dtype="float32").T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return Neighbours(order, np.take_along_axis(scores, order, axis=1))


def build_text_model(family: str, params: Mapping[str, Any], seed: int) -> Any:
    """An unfitted scikit-learn estimator of `family`: the embedding head takes embedding
    rows, the TF-IDF model takes the texts themselves."""
    from sklearn.linear_model import LogisticRegression

    if family == "embedding_classifier":
        return LogisticRegression(max_iter=2000, random_state=seed, **params)
    if family == "tfidf_logistic_regression":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import Pipeline

        words = {"min_df", "max_df", "ngram_max", "sublinear_tf"}
        vector_params = {k: v for k, v in params.items() if k in words}
        ngram_max = int(vector_params.pop("ngram_max", 2))
        vectorizer = TfidfVectorizer(
            ngram_range=(1, ngram_max),
            sublinear_tf=bool(vector_params.pop("sublinear_tf", True)),
            **vector_params,
        )
        head = LogisticRegression(
            max_iter=2000,
            random_state=seed,
            **{k: v for k, v in params.items() if k not in words},
        )
        return Pipeline([("tfidf", vectorizer), ("model", head)])
    raise ValueError(f"{family} is not a text candidate family; known: {', '.join(TEXT_FAMILIES)}")


def class_probabilities(model: Any, inputs: Any, n_classes: int) -> np.ndarray:
    """Probabilities in class-code order, zero for a class the model never saw."""
    proba = np.asarray(model.predict_proba(inputs), dtype="float64")
    out = np.zeros((proba.shape[0], n_classes))
    out[:, [int(c) for c in model.classes_]] = proba
    return out


def model_input(family: str, texts: Sequence[str], embeddings: np.ndarray) -> Any:
    """What `family`'s estimator reads: embedding rows, or the texts."""
    return embeddings if family == "embedding_classifier" else list(texts)

"""Candidate model families, built from fixed and tuned hyper-parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .feature_spec import FeatureSpec
from .problems import ProblemKind

Params = Mapping[str, Any]


def build_model(
    family: str,
    params: Params,
    spec: FeatureSpec,
    seed: int,
    kind: ProblemKind = ProblemKind.BINARY,
) -> Any:
    """An unfitted estimator of `family` that takes `spec.matrix(...)` as input."""
    if kind != ProblemKind.BINARY:
        raise ValueError(f"no {family} candidate for {kind} yet")
    if family == "logistic_regression":
        return _logistic(params, spec, seed)
    if family == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=seed, early_stopping=False, **params
        )
    if family == "xgboost":
        from xgboost import XGBClassifier

        # One thread per core of this machine class; results are seed-deterministic.
        return XGBClassifier(
            enable_categorical=True,
            tree_method="hist",
            eval_metric="auc",
            random_state=seed,
            n_jobs=2,
            max_cat_to_onehot=1,
            **params,
        )
    raise ValueError(f"unknown candidate family {family!r}")


def _logistic(params: Params, spec: FeatureSpec, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            ("encode", OneHotEncoder(handle_unknown="ignore", min_frequency=20)),
        ]
    )
    encode = ColumnTransformer(
        [("numeric", numeric, spec.numeric), ("categorical", categorical, list(spec.categorical))]
    )
    model = LogisticRegression(max_iter=2000, random_state=seed, **params)
    return Pipeline([("encode", encode), ("model", model)])

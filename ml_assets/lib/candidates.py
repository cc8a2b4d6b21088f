"""Candidate model families, built from fixed and tuned hyper-parameters, for each problem
type. Linear models and the MLP see scaled numbers and one-hot categories; the tree
ensembles see categories as codes (hist gradient boosting and XGBoost natively, the random
forest through an ordinal encoding; hist gradient boosting takes a category with more
levels than its `max_bins` as an ordinal code too, as it has no categorical split for it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config.lifecycle import FAMILIES_BY_KIND
from .feature_spec import FeatureSpec
from .problems import ProblemKind

Params = Mapping[str, Any]

CLASSIFICATION = frozenset({ProblemKind.BINARY, ProblemKind.MULTICLASS})


def build_model(
    family: str,
    params: Params,
    spec: FeatureSpec,
    seed: int,
    kind: ProblemKind = ProblemKind.BINARY,
) -> Any:
    """An unfitted estimator of `family` for `kind` that takes `spec.matrix(...)` as input."""
    if kind not in FAMILIES_BY_KIND.get(family, frozenset()):
        raise ValueError(f"no {family} candidate for {kind}")
    classify = kind in CLASSIFICATION
    if family == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return _encoded(spec, LogisticRegression(max_iter=2000, random_state=seed, **params))
    if family == "ridge":
        from sklearn.linear_model import Ridge

        return _encoded(spec, Ridge(**params))
    if family == "mlp":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        mlp = MLPClassifier if classify else MLPRegressor
        options = {"early_stopping": True, "max_iter": 300, "random_state": seed}
        return _encoded(spec, mlp(**{**options, **params}))
    if family == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        hgb = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        model = hgb(
            categorical_features="from_dtype", random_state=seed, early_stopping=False, **params
        )
        return _wide_categories_as_codes(spec, model)
    if family == "xgboost":
        return _xgboost(params, seed, kind)
    if family == "random_forest":
        return _random_forest(params, spec, seed, classify)
    raise ValueError(f"{family} is built from the other candidates (build_stacking)")


def _xgboost(params: Params, seed: int, kind: ProblemKind) -> Any:
    from xgboost import XGBClassifier, XGBRegressor

    # Two threads: one per core of this machine class; results are seed-deterministic.
    common = {
        "enable_categorical": True,
        "tree_method": "hist",
        "random_state": seed,
        "n_jobs": 2,
        "max_cat_to_onehot": 1,
    }
    if kind == ProblemKind.REGRESSION:
        return XGBRegressor(eval_metric="rmse", **common, **params)
    if kind == ProblemKind.MULTICLASS:
        return XGBClassifier(objective="multi:softprob", eval_metric="mlogloss", **common, **params)
    return XGBClassifier(eval_metric="auc", **common, **params)


def _random_forest(params: Params, spec: FeatureSpec, seed: int, classify: bool) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    forest = RandomForestClassifier if classify else RandomForestRegressor
    codes = ColumnTransformer(
        [
            ("numeric", "passthrough", spec.numeric),
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=-1,
                    encoded_missing_value=-1,
                ),
                list(spec.categorical),
            ),
        ]
    )
    # Forests in scikit-learn 1.9 take missing numbers as they are.
    model = forest(random_state=seed, n_jobs=2, **{"n_estimators": 200, **params})
    return Pipeline([("encode", codes), ("model", model)])


def _encoded(spec: FeatureSpec, model: Any) -> Any:
    """`model` behind median-imputed scaled numbers and one-hot categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
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
    return Pipeline([("encode", encode), ("model", model)])


def _wide_categories_as_codes(spec: FeatureSpec, model: Any) -> Any:
    """`model` (hist gradient boosting), behind an ordinal encoding of the categories with
    more training levels than its `max_bins`: it refuses to fit on those as categories
    (e.g. 829 first names), so they become codes it splits as numbers. Without such a
    category, `model` itself."""
    max_bins = int(model.get_params()["max_bins"])
    wide = {name: levels for name, levels in spec.categorical.items() if len(levels) > max_bins}
    if not wide:
        return model
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    codes = OrdinalEncoder(
        categories=list(wide.values()),
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
    )
    encode = ColumnTransformer(
        [("codes", codes, list(wide))], remainder="passthrough", verbose_feature_names_out=False
    ).set_output(transform="pandas")
    return Pipeline([("encode", encode), ("model", model)])

"""SHAP explanations of a model on the feature spec's matrix, on the log-odds scale.

XGBoost models get exact TreeSHAP. For an XGBClassifier `shap.TreeExplainer` calls
XGBoost's own C++ TreeSHAP (`pred_contribs`) on a DMatrix built with the model's
`enable_categorical`, so categorical splits are explained as XGBoost evaluates them.
scikit-learn models (HistGradientBoosting with categorical splits, pipelines) get the
model-agnostic permutation explainer over a background sample, on a capped number of rows.
Both explain log-odds, so importances of candidates of either kind are comparable.

shap is imported inside the functions: importing it takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .artifacts import LoadedModel, model_flavor
from .feature_spec import FeatureSpec

# The permutation explainer costs rows x evaluations x background predictions.
MODEL_AGNOSTIC_MAX_ROWS = 500
BACKGROUND_ROWS = 50
# Probabilities are clipped before the logit so that a saturated model stays finite.
_EPS = 1e-9


@dataclass(frozen=True)
class ShapResult:
    """Per-row SHAP values, the base value, and mean |SHAP| per feature (largest first)."""

    values: pd.DataFrame
    base_value: float
    global_importance: pd.Series
    method: Literal["tree", "permutation"]
    output: str = "log-odds"
    # Multiclass: mean |SHAP| per feature (rows) and class (columns); `values` then holds
    # each row's SHAP values towards its most probable class.
    per_class: pd.DataFrame | None = None


def shap_values(
    loaded_or_model: LoadedModel | Any,
    spec: FeatureSpec | None,
    frame: pd.DataFrame,
    sample: int = 2000,
    seed: int = 0,
    *,
    permutations: int = 2,
    background: pd.DataFrame | None = None,
) -> ShapResult:
    """Explain up to `sample` rows of `frame` (500 for a non-tree model), sampled with `seed`.

    `spec` may be None when a LoadedModel is given (its own spec is used). For sklearn
    models `permutations` antithetic permutations are evaluated per row; the values are
    exact for a model that is additive in log-odds (logistic regression).
    """
    model, spec = _unwrap(loaded_or_model, spec)
    matrix = spec.matrix(frame)
    if matrix.empty:
        raise ValueError("no rows to explain")
    if model_flavor(model) == "xgboost":
        import shap

        rows = _sample(matrix, sample, seed)
        explainer = shap.TreeExplainer(model)
        values = np.asarray(explainer.shap_values(rows), dtype="float64")
        base = float(np.mean(np.ravel(explainer.expected_value)))
        method: Literal["tree", "permutation"] = "tree"
    else:
        rows = _sample(matrix, min(sample, MODEL_AGNOSTIC_MAX_ROWS), seed)
        # A few request rows cannot be their own background (every contribution would be
        # 0): serving passes a sample of training-time features instead.
        reference = matrix if background is None else spec.matrix(background)
        sample_background = _sample(reference, BACKGROUND_ROWS, seed + 1)
        values, base = _permutation_shap(model, spec, rows, sample_background, seed, permutations)
        method = "permutation"
    per_class = None
    if values.ndim == 3:  # rows x features x classes
        classes = [str(c) for c in getattr(model, "classes_", range(values.shape[2]))]
        per_class = pd.DataFrame(np.abs(values).mean(axis=0), index=spec.columns, columns=classes)
        predicted = np.asarray(model.predict_proba(rows)).argmax(axis=1)
        values = values[np.arange(len(rows)), :, predicted]
    table = pd.DataFrame(values, index=rows.index, columns=spec.columns)
    importance = table.abs().mean().sort_values(ascending=False)
    if per_class is not None:
        importance = per_class.mean(axis=1).sort_values(ascending=False)
    importance.name = "mean_abs_shap"
    return ShapResult(
        values=table,
        base_value=base,
        global_importance=importance,
        method=method,
        output=_output_name(model),
        per_class=per_class,
    )


def _output_name(model: Any) -> str:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return "prediction (fitted scale)"
    return "log-odds" if len(classes) == 2 else "log-probability per class"


def xgboost_contributions(
    model: LoadedModel | Any, spec: FeatureSpec | None, frame: pd.DataFrame
) -> pd.DataFrame:
    """XGBoost's own per-feature contributions (log-odds), without the bias column."""
    import xgboost

    model, spec = _unwrap(model, spec)
    if model_flavor(model) != "xgboost":
        raise TypeError(f"{type(model).__name__} is not an XGBoost model")
    matrix = spec.matrix(frame)
    dmatrix = xgboost.DMatrix(matrix, enable_categorical=True)
    contribs = model.get_booster().predict(dmatrix, pred_contribs=True)
    if contribs.ndim == 3:  # multiclass: each row's contributions to its predicted class
        predicted = np.asarray(model.predict_proba(matrix)).argmax(axis=1)
        contribs = contribs[np.arange(len(predicted)), predicted]
    return pd.DataFrame(contribs[:, :-1], index=matrix.index, columns=spec.columns)


def agreement(shap_values_df: pd.DataFrame, contribs_df: pd.DataFrame) -> float:
    """Largest absolute difference between two contribution tables of the same rows."""
    if set(shap_values_df.columns) != set(contribs_df.columns):
        raise ValueError("the two tables explain different features")
    other = contribs_df[shap_values_df.columns]
    if not other.index.equals(shap_values_df.index):
        if not contribs_df.index.is_unique:
            raise ValueError("rows cannot be matched: the contributions' index has duplicates")
        missing = shap_values_df.index.difference(contribs_df.index)
        if len(missing):
            raise ValueError(f"{len(missing)} explained rows have no contributions to compare")
        other = other.loc[shap_values_df.index]
    return float(np.max(np.abs(shap_values_df.to_numpy() - other.to_numpy()), initial=0.0))


def plot_summary(result: ShapResult, path: Path, max_features: int = 15) -> Path:
    """Save a PNG bar chart of the largest mean |SHAP| values; return its path.

    The figure is built without pyplot, so no global figure is left open.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    top = result.global_importance.head(max_features).iloc[::-1]
    figure = Figure(figsize=(7, 0.35 * len(top) + 1.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.barh([str(name) for name in top.index], top.to_numpy(), color="#1f77b4")
    axes.set_xlabel(f"mean |SHAP value| ({result.output})")
    axes.set_title(f"Global feature importance ({len(result.values)} rows, {result.method})")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=120)
    return path


def _unwrap(obj: LoadedModel | Any, spec: FeatureSpec | None) -> tuple[Any, FeatureSpec]:
    if isinstance(obj, LoadedModel):
        return obj.model, spec or obj.spec
    if spec is None:
        raise ValueError("a feature spec is needed to explain a bare model")
    return obj, spec


def _sample(matrix: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return matrix if len(matrix) <= n else matrix.sample(n=n, random_state=seed)


def _permutation_shap(
    model: Any,
    spec: FeatureSpec,
    rows: pd.DataFrame,
    background: pd.DataFrame,
    seed: int,
    permutations: int,
) -> tuple[np.ndarray, float]:
    """Permutation SHAP of the model's log-odds; categories travel as float codes."""
    import shap
    from threadpoolctl import threadpool_limits

    log_odds = _explained_output(model, spec)

    masker = shap.maskers.Independent(_encode(background), max_samples=BACKGROUND_ROWS)
    explainer = shap.explainers.Permutation(log_odds, masker, seed=seed)
    max_evals = permutations * (2 * len(spec.columns) + 1)
    # One small batch per row: OpenMP start-up per call costs more than the trees, and
    # under CPU contention it made HistGradientBoosting 70x slower than one thread.
    with threadpool_limits(limits=1, user_api="openmp"):
        explanation = explainer(_encode(rows), max_evals=max_evals, silent=True)
    return np.asarray(explanation.values, dtype="float64"), float(np.mean(explanation.base_values))


def _explained_output(model: Any, spec: FeatureSpec) -> Any:
    """What SHAP explains: a binary classifier's log-odds, a multiclass classifier's
    log-probability of every class, a regressor's prediction (on its fitted scale)."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return lambda encoded: np.asarray(model.predict(_decode(encoded, spec)), dtype="float64")
    if len(classes) > 2:

        def log_probability(encoded: np.ndarray) -> np.ndarray:
            proba = model.predict_proba(_decode(encoded, spec))
            return np.log(np.clip(proba, _EPS, 1.0))

        return log_probability
    positive = list(classes).index(1)

    def log_odds(encoded: np.ndarray) -> np.ndarray:
        proba = model.predict_proba(_decode(encoded, spec))[:, positive]
        proba = np.clip(proba, _EPS, 1 - _EPS)
        return np.log(proba) - np.log1p(-proba)

    return log_odds


def _encode(matrix: pd.DataFrame) -> np.ndarray:
    """Numeric matrix for shap's maskers: categories become their codes, missing NaN."""
    columns = []
    for name in matrix.columns:
        column = matrix[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype("float64")
            columns.append(np.where(codes < 0, np.nan, codes))
        else:
            columns.append(column.to_numpy(dtype="float64"))
    return np.column_stack(columns)


def _decode(encoded: np.ndarray, spec: FeatureSpec) -> pd.DataFrame:
    """The model matrix back from `_encode`'s codes, with the spec's dtypes and levels."""
    data: dict[str, Any] = {}
    for i, name in enumerate(spec.columns):
        column = np.asarray(encoded[:, i], dtype="float64")
        if name in spec.categorical:
            codes = np.where(np.isnan(column), -1, column).astype("int64")
            data[name] = pd.Categorical.from_codes(
                codes, categories=pd.Index(spec.categorical[name])
            )
        else:
            data[name] = column
    return pd.DataFrame(data)

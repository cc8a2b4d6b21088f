"""The three problem types on real tables (scikit-learn's bundled wine and diabetes data)
and on the edge cases each must survive: a class absent from the rows, a single class, a
constant target, a single row, a log1p target with negatives."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from ml_assets.lib.artifacts import load_model, save_model
from ml_assets.lib.candidates import build_model
from ml_assets.lib.config.lifecycle import FAMILIES_BY_KIND, CandidateConfig, TuningConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.problems import Calibration, ProblemKind
from ml_assets.lib.problems.multiclass import MulticlassProblem, ovr_auc
from ml_assets.lib.problems.regression import RegressionProblem
from ml_assets.lib.stacking import build_stacking
from ml_assets.lib.tuning import tune_candidate

CLASSES = ("class_0", "class_1", "class_2")


def wine() -> tuple[pd.DataFrame, pd.Series]:
    data = load_wine(as_frame=True)
    return data.data, data.target.map(dict(enumerate(CLASSES))).astype("string")


def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    data = load_diabetes(as_frame=True, scaled=False)
    return data.data.drop(columns="sex"), data.target.astype("float64")


def halves(frame: pd.DataFrame, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(frame))
    return order[: len(frame) // 2], order[len(frame) // 2 :]


def spec_of(frame: pd.DataFrame) -> FeatureSpec:
    return FeatureSpec(label="y", numeric=list(frame.columns))


def test_multiclass_metrics_on_wine_beat_the_class_shares() -> None:
    x, labels = wine()
    problem = MulticlassProblem(CLASSES)
    train, test = halves(x)
    spec = spec_of(x)
    model = build_model("logistic_regression", {}, spec, 0, ProblemKind.MULTICLASS)
    model.fit(spec.matrix(x.iloc[train]), problem.target(labels.iloc[train]))
    p = problem.predict(model, spec.matrix(x.iloc[test]))
    y = problem.truth(labels.iloc[test])
    assert p.shape == (len(test), 3) and np.allclose(p.sum(axis=1), 1)
    metrics = problem.metrics(y, p, Calibration())
    assert metrics["accuracy"] > 0.9 and metrics["roc_auc_ovr"] > 0.95
    assert {"precision[class_0]", "recall[class_2]", "support[class_1]"} <= set(metrics)
    prior = problem.baseline(problem.truth(labels.iloc[train]), len(test))
    assert problem.score(y, prior) == pytest.approx(0.5)
    outputs = problem.outputs(p, Calibration())
    assert set(outputs["label"]) <= set(CLASSES)
    scored = pd.DataFrame(outputs)
    np.testing.assert_allclose(problem.predictions_of(scored), p)


def test_multiclass_edge_cases_give_none_not_nan() -> None:
    problem = MulticlassProblem(CLASSES)
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    # class_2 absent: the AUC is over the two present classes.
    assert problem.score(np.array([0, 1, 0]), p) == pytest.approx(1.0)
    assert problem.score(np.array([0, 0, 0]), p) is None
    single = problem.metrics(np.array([1]), p[1:2], Calibration())
    assert single["roc_auc_ovr"] is None and single["accuracy"] == 1.0
    assert not any(isinstance(v, float) and np.isnan(v) for v in single.values())
    with pytest.raises(ValueError, match="have no class"):
        problem.truth(pd.Series(["class_0", "class_9"], name="y"))


def test_regression_on_diabetes_interval_covers_about_its_level() -> None:
    x, target = diabetes()
    problem = RegressionProblem("log1p", 0.9)
    train, rest = halves(x)
    validation, test = rest[: len(rest) // 2], rest[len(rest) // 2 :]
    spec = spec_of(x)
    model = build_model("ridge", {}, spec, 0, ProblemKind.REGRESSION)
    model.fit(spec.matrix(x.iloc[train]), problem.target(target.iloc[train]))
    predict = {
        "validation": problem.predict(model, spec.matrix(x.iloc[validation])),
        "test": problem.predict(model, spec.matrix(x.iloc[test])),
    }
    served = problem.calibrate(problem.truth(target.iloc[validation]), predict["validation"], {})
    assert served.interval_halfwidth and served.interval_halfwidth > 0
    metrics = problem.metrics(problem.truth(target.iloc[test]), predict["test"], served)
    mean = problem.baseline(problem.truth(target.iloc[train]), len(test))
    assert metrics["rmse"] < problem.score(problem.truth(target.iloc[test]), mean)
    assert 0.75 <= metrics["interval_coverage"] <= 1.0
    out = problem.outputs(predict["test"], served)
    assert (out["lower"] < out["prediction"]).all() and (out["prediction"] < out["upper"]).all()


def test_regression_edge_cases() -> None:
    problem = RegressionProblem("log1p")
    with pytest.raises(ValueError, match="<= -1"):
        problem.target(pd.Series([1.0, -2.0], name="y"))
    constant = problem.metrics(np.array([3.0, 3.0]), np.array([3.0, 2.0]), Calibration())
    assert constant["r2"] is None and constant["rmse"] == pytest.approx(np.sqrt(0.5))
    one = problem.metrics(np.array([0.0]), np.array([1.0]), Calibration())
    assert one["r2"] is None and one["mape"] is None and one["mae"] == 1.0


@pytest.mark.parametrize(
    ("kind", "family"),
    [
        (kind, family)
        # Text families read texts, not tables: tests/test_text_lib.py fits and tunes them.
        for kind in ProblemKind
        if kind != ProblemKind.TEXT
        for family in sorted(FAMILIES_BY_KIND)
        if kind in FAMILIES_BY_KIND[family] and family != "stacking"
    ],
)
def test_every_family_fits_tunes_and_round_trips(
    kind: ProblemKind, family: str, tmp_path: Path
) -> None:
    x, labels = wine() if kind != ProblemKind.REGRESSION else diabetes()
    problem = MulticlassProblem(CLASSES) if kind != ProblemKind.REGRESSION else RegressionProblem()
    if kind == ProblemKind.BINARY:
        labels = (labels == "class_0").astype("boolean")
        from ml_assets.lib.problems.binary import BinaryProblem

        problem = BinaryProblem()
    spec = spec_of(x)
    train, validation = halves(x)
    windows = [
        (spec.matrix(x.iloc[w]), problem.target(labels.iloc[w])) for w in (train, validation)
    ]
    result = tune_candidate(
        family,
        CandidateConfig(),
        TuningConfig(n_trials=2, timeout_seconds=60),
        spec,
        windows[0],
        windows[1],
        seed=0,
        study_name=f"{kind}-{family}",
        problem=problem,
    )
    assert result.n_complete >= 1 and np.isfinite(result.best_value)
    save_model(result.model, spec, tmp_path)
    loaded = load_model(tmp_path)
    np.testing.assert_allclose(
        problem.predict(loaded.model, windows[1][0]), problem.predict(result.model, windows[1][0])
    )


@pytest.mark.parametrize("kind", [ProblemKind.MULTICLASS, ProblemKind.REGRESSION])
def test_stacking_of_tuned_candidates(kind: ProblemKind, tmp_path: Path) -> None:
    regression = kind == ProblemKind.REGRESSION
    x, labels = diabetes() if regression else wine()
    problem = RegressionProblem() if regression else MulticlassProblem(CLASSES)
    spec = spec_of(x)
    train, validation = halves(x)
    y = problem.target(labels.iloc[train])
    linear = "ridge" if regression else "logistic_regression"
    members = {
        f: build_model(f, {}, spec, 0, kind).fit(spec.matrix(x.iloc[train]), y)
        for f in (linear, "random_forest", "xgboost")
    }
    stack = build_stacking(members, kind, seed=0).fit(spec.matrix(x.iloc[train]), y)
    assert [name for name, _ in stack.estimators] == [linear, "random_forest"]  # no xgboost
    truth = problem.truth(labels.iloc[validation])
    score = problem.score(truth, problem.predict(stack, spec.matrix(x.iloc[validation])))
    assert score is not None and np.isfinite(score)
    save_model(stack, spec, tmp_path)
    assert load_model(tmp_path).manifest.flavor == "sklearn"


def test_ovr_auc_matches_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    p = rng.dirichlet(np.ones(4), 300)
    assert ovr_auc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))


def test_multiclass_paired_bootstrap_sees_a_real_gain() -> None:
    problem = MulticlassProblem(CLASSES)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    good = np.eye(3)[y] * 0.6 + rng.dirichlet(np.ones(3), 600) * 0.4
    noise = rng.dirichlet(np.ones(3), 600)
    result = problem.compare(y, good, noise, resamples=200, seed=0, alpha=0.05)
    assert result.gain > 0.2 and result.ci_low > 0 and result.p_value < 0.05


def test_the_champion_decision_for_regression_and_multiclass() -> None:
    from ml_assets.lib.promotion_rule import decide_by_metric

    x, target = diabetes()
    problem = RegressionProblem()
    train, test = halves(x)
    spec = spec_of(x)
    ridge = build_model("ridge", {}, spec, 0, ProblemKind.REGRESSION)
    ridge.fit(spec.matrix(x.iloc[train]), problem.target(target.iloc[train]))
    y = problem.truth(target.iloc[test])
    fitted = problem.predict(ridge, spec.matrix(x.iloc[test]))
    mean = problem.baseline(problem.truth(target.iloc[train]), len(test))
    better = decide_by_metric(problem, y, fitted, mean, margin=1.0, resamples=300)
    assert better.promote and better.metric == "rmse" and better.difference > 1.0
    assert "RMSE" in better.reason and better.ci_low > 0
    same = decide_by_metric(problem, y, fitted, fitted, margin=0.0, resamples=300)
    assert not same.promote and same.difference == 0
    first = decide_by_metric(
        MulticlassProblem(CLASSES), np.array([0, 1]), np.eye(3)[:2], None, margin=0
    )
    assert first.promote and "no current champion" in first.reason


def test_live_performance_of_each_type_on_its_edge_cases() -> None:
    from ml_assets.lib.config.monitoring import PerformanceConfig
    from ml_assets.lib.live_performance import evaluate

    policy = PerformanceConfig(min_rows=2, drop_warn=0.5, drop_error=1.0)
    regression = (RegressionProblem(), Calibration())
    constant = evaluate(
        pd.Series([3.0, 3.0, 3.0]), np.array([3.0, 2.5, 3.5]), {"rmse": 0.1}, policy, regression
    )
    assert constant.metric == "rmse" and constant.value == pytest.approx(np.sqrt(1 / 6), abs=1e-6)
    assert constant.metrics["r2"] is None and constant.verdict == "ok"
    worse = evaluate(pd.Series([1.0, 5.0]), np.array([4.0, 2.0]), {"rmse": 1.0}, policy, regression)
    assert worse.verdict == "error" and worse.drop == pytest.approx(2.0)
    single = evaluate(pd.Series([2.0]), np.array([2.0]), {"rmse": 1.0}, policy, regression)
    assert single.verdict == "no_verdict" and "fewer than" in single.reason
    multiclass = (MulticlassProblem(CLASSES), Calibration())
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    no_third = evaluate(
        pd.Series(["class_0", "class_1", "class_0"]), p, {"roc_auc_ovr": 0.9}, policy, multiclass
    )
    assert no_third.value == pytest.approx(1.0) and no_third.verdict == "ok"
    one_class = evaluate(pd.Series(["class_0"] * 3), p, {"roc_auc_ovr": 0.9}, policy, multiclass)
    assert one_class.verdict == "no_verdict" and "single-class" in one_class.reason


@pytest.mark.parametrize("family", ["xgboost", "logistic_regression"])
def test_shap_per_class_for_a_multiclass_model(family: str) -> None:
    from ml_assets.lib.explain import agreement, shap_values, xgboost_contributions

    x, labels = wine()
    problem = MulticlassProblem(CLASSES)
    spec = spec_of(x)
    model = build_model(family, {"n_estimators": 20} if family == "xgboost" else {}, spec, 0,
                        ProblemKind.MULTICLASS)  # fmt: skip
    model.fit(spec.matrix(x), problem.target(labels))
    result = shap_values(model, spec, x.head(40), sample=40)
    assert result.per_class is not None and list(result.per_class.columns) == ["0", "1", "2"]
    assert result.values.shape == (40, len(spec.columns))
    assert result.global_importance.index[0] in spec.columns
    if family == "xgboost":
        contributions = xgboost_contributions(model, spec, x.head(40))
        assert agreement(result.values, contributions) < 1e-3

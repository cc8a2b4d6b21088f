"""Tier 1: model folders without pickles, verified by sha256 before anything is loaded."""

import hashlib
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ml_assets.lib.artifacts import (
    MANIFEST_FILE,
    SPEC_FILE,
    ArtifactIntegrityError,
    UntrustedModelError,
    contains_pickle,
    is_trusted_type,
    load_model,
    predict_proba,
    save_model,
)
from ml_assets.lib.feature_spec import FeatureSpec

SPEC = FeatureSpec(label="delayed", numeric=["a", "b"], categorical={"c": ["x", "y", "z"]})


def synthetic_flights(n: int = 600, seed: int = 0, *, only_a_matters: bool = False) -> pd.DataFrame:
    """Two numeric features and one categorical; `a` (and `c`, unless told) drive the label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], size=n),
        }
    )
    effect = 0.0 if only_a_matters else 1.5 * (frame["c"] == "y")
    frame["delayed"] = (2.0 * frame["a"] + effect + 0.3 * rng.normal(size=n)) > 0.5
    frame.loc[::23, "a"] = np.nan
    return frame


def xgboost_model() -> xgboost.XGBClassifier:
    return xgboost.XGBClassifier(
        enable_categorical=True,
        tree_method="hist",
        max_cat_to_onehot=1,  # partition splits on categories, as the platform trains
        n_estimators=30,
        max_depth=3,
        n_jobs=1,
    )


def hist_gradient_boosting() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=30)


def logistic_regression() -> Pipeline:
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                SPEC.numeric,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="__missing__"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                list(SPEC.categorical),
            ),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression())])


BUILDERS: dict[str, Callable[[], Any]] = {
    "xgboost": xgboost_model,
    "hist_gradient_boosting": hist_gradient_boosting,
    "logistic_regression": logistic_regression,
}


def fitted(kind: str, frame: pd.DataFrame) -> Any:
    return BUILDERS[kind]().fit(SPEC.matrix(frame), SPEC.labels(frame))


@pytest.fixture(scope="module", params=list(BUILDERS))
def model_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def trained(model_kind: str) -> Any:
    return fitted(model_kind, synthetic_flights())


@pytest.fixture
def saved_xgboost(tmp_path: Path) -> Path:
    save_model(fitted("xgboost", synthetic_flights()), SPEC, tmp_path / "model")
    return tmp_path / "model"


def test_round_trip_gives_identical_predictions(trained: Any, tmp_path: Path) -> None:
    frame = synthetic_flights(200, seed=1)
    manifest = save_model(trained, SPEC, tmp_path / "m", extra={"run_id": "r1"})
    loaded = load_model(tmp_path / "m", expected_manifest_sha256=manifest.manifest_sha256)
    expected = trained.predict_proba(SPEC.matrix(frame))[:, 1]
    np.testing.assert_allclose(predict_proba(loaded, frame), expected, rtol=0, atol=1e-9)
    assert loaded.spec == SPEC
    assert loaded.manifest == manifest
    assert loaded.manifest.extra == {"run_id": "r1"}


def test_manifest_lists_the_sha256_of_every_file(trained: Any, tmp_path: Path) -> None:
    manifest = save_model(trained, SPEC, tmp_path)
    expected_flavor = "xgboost" if isinstance(trained, xgboost.XGBClassifier) else "sklearn"
    assert manifest.flavor == expected_flavor
    assert set(manifest.files) == {manifest.model_file, SPEC_FILE}
    for name, sha in manifest.files.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == sha
    payload = (tmp_path / MANIFEST_FILE).read_bytes()
    assert hashlib.sha256(payload).hexdigest() == manifest.manifest_sha256
    document = json.loads(payload)
    assert document["files"] == manifest.files
    assert {"xgboost", "scikit-learn", "skops"} <= set(document["versions"])


def test_folder_holds_no_pickle(trained: Any, tmp_path: Path) -> None:
    manifest = save_model(trained, SPEC, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([manifest.model_file, SPEC_FILE, MANIFEST_FILE])
    assert manifest.model_file in {"model.ubj", "model.skops"}
    for path in tmp_path.iterdir():
        assert path.read_bytes()[:2] not in {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}
    assert not contains_pickle(tmp_path)


def test_column_order_survives_the_round_trip(tmp_path: Path) -> None:
    spec = FeatureSpec(
        label="delayed", numeric=["b", "a"], categorical={"zc": ["q", "p"], "c": ["y", "x"]}
    )
    frame = synthetic_flights(300).assign(zc=lambda f: np.where(f["a"] > 0, "p", "q"))
    model = xgboost_model().fit(spec.matrix(frame), spec.labels(frame))
    save_model(model, spec, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.spec.columns == ["b", "a", "zc", "c"]
    assert loaded.spec.categorical == spec.categorical
    np.testing.assert_array_equal(
        predict_proba(loaded, frame), model.predict_proba(spec.matrix(frame))[:, 1]
    )


def test_contains_pickle_finds_a_pickle_under_any_name(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    assert contains_pickle(tmp_path)


def test_xgboost_probabilities_match_the_booster(saved_xgboost: Path) -> None:
    loaded = load_model(saved_xgboost)
    matrix = SPEC.matrix(synthetic_flights(100, seed=2))
    inplace = loaded.model.get_booster().inplace_predict(matrix)
    np.testing.assert_allclose(
        predict_proba(loaded, synthetic_flights(100, seed=2)), inplace, atol=1e-6
    )


@pytest.mark.parametrize("name", ["model.ubj", SPEC_FILE])
def test_a_changed_byte_is_refused_before_loading(saved_xgboost: Path, name: str) -> None:
    path = saved_xgboost / name
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    after = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ArtifactIntegrityError) as caught:
        load_model(saved_xgboost)
    assert caught.value.file == name
    assert name in str(caught.value) and before in str(caught.value) and after in str(caught.value)


def test_a_changed_manifest_is_refused_given_its_expected_hash(saved_xgboost: Path) -> None:
    path = saved_xgboost / MANIFEST_FILE
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    document = json.loads(path.read_text())
    document["extra"] = {"approved": True}
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactIntegrityError, match=MANIFEST_FILE) as caught:
        load_model(saved_xgboost, expected_manifest_sha256=expected)
    assert expected in str(caught.value) and caught.value.actual in str(caught.value)


def test_a_manifest_rewritten_for_a_swapped_model_still_fails_its_pinned_hash(
    saved_xgboost: Path, tmp_path: Path
) -> None:
    pinned = hashlib.sha256((saved_xgboost / MANIFEST_FILE).read_bytes()).hexdigest()
    other = fitted("xgboost", synthetic_flights(seed=9))
    save_model(other, SPEC, saved_xgboost)  # consistent folder, but not the registered one
    assert load_model(saved_xgboost).model is not None
    with pytest.raises(ArtifactIntegrityError, match=MANIFEST_FILE):
        load_model(saved_xgboost, expected_manifest_sha256=pinned)


@pytest.mark.parametrize("name", ["model.ubj", SPEC_FILE, MANIFEST_FILE])
def test_a_deleted_file_is_reported(saved_xgboost: Path, name: str) -> None:
    (saved_xgboost / name).unlink()
    with pytest.raises(ArtifactIntegrityError, match=f"{name} is missing") as caught:
        load_model(saved_xgboost)
    assert caught.value.file == name


@pytest.mark.parametrize(
    "files",
    [{"../model.ubj": "0" * 64, "feature_spec.json": "0" * 64}, {"model.ubj": "0" * 64}],
    ids=["path-outside-the-folder", "spec-not-listed"],
)
def test_a_malformed_manifest_is_refused(saved_xgboost: Path, files: dict[str, str]) -> None:
    path = saved_xgboost / MANIFEST_FILE
    document = json.loads(path.read_text())
    document["files"] = files
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactIntegrityError, match="not a valid manifest"):
        load_model(saved_xgboost)


def _custom_transform(values: Any) -> Any:
    return values


@pytest.mark.parametrize(
    ("func", "refused"),
    [(_custom_transform, "_custom_transform"), (eval, "builtins.eval")],
    ids=["function-from-a-test-module", "builtin-eval"],
)
def test_skops_refuses_types_outside_the_allow_list(
    tmp_path: Path, func: Callable[..., Any], refused: str
) -> None:
    save_model(FunctionTransformer(func), SPEC, tmp_path)
    with pytest.raises(UntrustedModelError, match="outside the allow-list") as caught:
        load_model(tmp_path)
    assert refused in str(caught.value)


def test_skops_loads_a_numpy_function(tmp_path: Path) -> None:
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
    model.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    save_model(model, SPEC, tmp_path)
    assert load_model(tmp_path).model.steps[0][1].func is np.log1p


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
        ("numpy.dtype", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("collections.OrderedDict", True),
        ("functools.partial", True),
        ("builtins.dict", True),
        ("builtins.exec", False),
        ("numpyevil.thing", False),
        ("os.system", False),
        ("tests.test_artifacts._custom_transform", False),
    ],
)
def test_allow_list(name: str, trusted: bool) -> None:
    assert is_trusted_type(name) is trusted


def test_unseen_category_and_missing_values_give_finite_probabilities(
    trained: Any, tmp_path: Path
) -> None:
    save_model(trained, SPEC, tmp_path)
    frame = pd.DataFrame({"a": [0.3, np.nan, 1.0], "b": [np.nan, 0.1, 2.0], "c": ["w", None, "x"]})
    proba = predict_proba(load_model(tmp_path), frame)
    assert proba.shape == (3,) and np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()


def test_empty_frame_gives_no_probabilities(saved_xgboost: Path) -> None:
    empty = synthetic_flights(10).iloc[:0]
    assert predict_proba(load_model(saved_xgboost), empty).shape == (0,)


def test_missing_feature_column_is_named(saved_xgboost: Path) -> None:
    with pytest.raises(KeyError, match="c"):
        predict_proba(load_model(saved_xgboost), synthetic_flights(10).drop(columns="c"))


def test_only_sklearn_and_xgboost_models_are_saved(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot save"):
        save_model({"weights": [1.0]}, SPEC, tmp_path)
    assert not any(tmp_path.iterdir())

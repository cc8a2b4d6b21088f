"""Tier 1: the serving fast paths give exactly what the generic code gives.

Typed columns from validated records against `coerce_column`; `FeatureSpec.matrix` against
its first, generic form; XGBoost on `codes_array` against XGBoost on `matrix`.
"""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost

from ml_assets.lib.artifacts import load_model, save_model
from ml_assets.lib.config.models import ColumnSpec, ColumnType, PipelineConfig
from ml_assets.lib.feature_spec import FeatureSpec
from ml_assets.lib.request_model import record_model
from ml_assets.lib.schema import coerce_column
from ml_assets.lib.scoring import Scorer, serving_columns
from ml_assets.lib.typed_events import typed_events

COLUMNS = {
    "n": ColumnSpec(type=ColumnType.INT, nullable=True),
    "x": ColumnSpec(type=ColumnType.FLOAT, nullable=True),
    "ok": ColumnSpec(type=ColumnType.BOOL, nullable=True),
    "s": ColumnSpec(type=ColumnType.STR, nullable=True),
    "c": ColumnSpec(type=ColumnType.CATEGORY, nullable=True, allowed=["a", "b"]),
    "t": ColumnSpec(type=ColumnType.DATETIME, nullable=True),
}
GOOD = {
    "n": 3,
    "x": 1.5,
    "ok": True,
    "s": "text",
    "c": "a",
    "t": datetime(2013, 7, 1, 3, 30, 0, 123456, tzinfo=UTC),
}


def generic(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The generic path: a frame from the records, then `coerce_column` on each column."""
    raw = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    return pd.DataFrame({name: coerce_column(raw[name], spec) for name, spec in COLUMNS.items()})


@pytest.mark.parametrize(
    "changes",
    [
        [{}],
        [{"n": None, "x": None, "ok": None, "s": None, "c": None, "t": None}],
        [{"s": ""}, {"s": " "}],  # empty text is missing, a blank is not
        [{"t": datetime(2013, 7, 1, 3, 30)}],  # naive: UTC
        [{"t": datetime(2013, 7, 1, 3, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))}],
        [{"t": datetime(2013, 3, 10, 1, 59, tzinfo=timezone(timedelta(hours=-5)))}, {}],
        [{"n": -(2**53) + 1, "x": -0.0, "ok": False}, {"n": 0, "x": float("inf")}],
        [{"t": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)}],
    ],
    ids=["values", "nulls", "empty-text", "naive", "offset", "dst-day", "extremes", "pre-epoch"],
)
def test_typed_records_equal_coerce_column(changes: list[dict[str, Any]]) -> None:
    records = [GOOD | change for change in changes]
    pd.testing.assert_frame_equal(typed_events(records, COLUMNS), generic(records))


@pytest.mark.parametrize(
    "change",
    [
        {"n": "7"},  # text for a number
        {"n": 2**60},  # rounds through Float64 in coerce_column
        {"n": 2**70},  # beyond int64
        {"n": True},
        {"x": 2},  # an int where validation would have given a float
        {"ok": "yes"},
        {"s": 5},
        {"t": "2013-07-01T03:30:00Z"},  # raw JSON text
        {"t": pd.Timestamp("2013-07-01T03:30:00.000000001Z")},  # nanoseconds
        {"t": datetime(1500, 1, 1, tzinfo=UTC)},  # outside datetime64[ns]
    ],
)
def test_records_not_validated_take_the_generic_path(change: dict[str, Any]) -> None:
    records = [GOOD, GOOD | change]
    pd.testing.assert_frame_equal(typed_events(records, COLUMNS), generic(records))


def test_a_record_without_a_field_takes_the_generic_path() -> None:
    records = [GOOD, {k: v for k, v in GOOD.items() if k != "x"}]
    typed = typed_events(records, COLUMNS)
    pd.testing.assert_frame_equal(typed, generic(records))
    assert pd.isna(typed.loc[1, "x"])


def test_validated_flight_records_equal_coerce_column(flight_config) -> None:  # type: ignore[no-untyped-def]
    columns = serving_columns(flight_config)
    record = record_model(flight_config)
    sent = {
        "year": 2013,
        "month": 7,
        "day": 1,
        "sched_dep_time": 1959,
        "sched_arr_time": 2359,
        "carrier": "B6",
        "flight": 101,
        "tailnum": "N123AB",
        "origin": "JFK",
        "dest": "BOS",
        "distance": 187,
        "hour": 19,
        "minute": 59,
        "time_hour": "2013-07-01T23:00:00.000Z",
    }
    raw = [sent, sent | {"tailnum": None, "time_hour": "2013-07-01T19:00:00-04:00"}]
    records = [record.model_validate(r).model_dump() for r in raw]
    frame = pd.DataFrame.from_records(raw, columns=list(columns))
    expected = pd.DataFrame({n: coerce_column(frame[n], spec) for n, spec in columns.items()})
    pd.testing.assert_frame_equal(typed_events(records, columns), expected)


SPEC = FeatureSpec(
    label="delayed",
    numeric=["a", "i", "o"],
    categorical={"c": ["y", "x", "z"], "b": ["False", "True"], "s": ["p", "q"]},
)
FEATURES = pd.DataFrame(
    {
        "a": [0.5, np.nan, -1.0, 2.0],
        "i": pd.array([1, None, 3, 4], dtype="Int64"),
        "o": pd.Series(["1.5", "x", None, 2], dtype=object),  # not a number: missing
        "c": pd.array(["x", None, "w", "z"], dtype="string"),  # w is unseen
        "b": pd.array([True, False, None, True], dtype="boolean"),
        "s": pd.Series(["q", "p", None, "r"], dtype=object),
    }
)


def generic_matrix(spec: FeatureSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """`FeatureSpec.matrix` as first written: per-column coercion, categories by value."""
    out: dict[str, Any] = {}
    for name in spec.numeric:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name, levels in spec.categorical.items():
        values = frame[name].astype("string").astype(object).where(frame[name].notna(), None)
        out[name] = pd.Categorical(values, categories=levels)
    return pd.DataFrame(out, index=frame.index)


def test_matrix_equals_the_generic_conversion() -> None:
    frame = FEATURES.set_axis([10, 11, 12, 13])
    pd.testing.assert_frame_equal(SPEC.matrix(frame), generic_matrix(SPEC, frame))


def test_codes_array_holds_level_positions_and_nan() -> None:
    array = SPEC.codes_array(FEATURES)
    matrix = generic_matrix(SPEC, FEATURES)
    assert array.dtype == np.float64 and array.shape == (4, 6)
    for i, name in enumerate(SPEC.columns):
        column = matrix[name]
        expected = (
            column.cat.codes.replace(-1, np.nan).to_numpy(dtype="float64")
            if name in SPEC.categorical
            else column.to_numpy()
        )
        np.testing.assert_array_equal(array[:, i], expected, err_msg=name)


def xgboost_features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.array(rng.choice(["x", "y", "z"], size=n), dtype="string"),
        }
    )
    frame.loc[::7, "a"] = np.nan
    frame.loc[::11, "c"] = None
    frame["delayed"] = (frame["a"].fillna(0) + (frame["c"] == "y").fillna(False)) > 0.3
    return frame


@pytest.mark.parametrize("levels", [["x", "y", "z"], ["z", "x", "y"]])
def test_xgboost_on_codes_array_equals_xgboost_on_the_matrix(
    levels: list[str], tmp_path: Path, flight_config: PipelineConfig
) -> None:
    spec = FeatureSpec(label="delayed", numeric=["a"], categorical={"c": levels})
    train = xgboost_features(400, seed=0)
    model = xgboost.XGBClassifier(
        enable_categorical=True, tree_method="hist", max_cat_to_onehot=1, n_estimators=20
    )
    model.fit(spec.matrix(train), spec.labels(train))
    save_model(model, spec, tmp_path)
    scorer = Scorer(
        config=flight_config,  # a binary problem: probabilities() needs nothing else
        loaded=load_model(tmp_path),
        references={},
        metadata={},
    )
    new = xgboost_features(300, seed=1).assign(c=lambda f: f["c"].replace("z", "unseen"))
    from_matrix = scorer.probabilities(new)
    assert not scorer._array_input
    scorer._array_input = True
    np.testing.assert_array_equal(scorer.probabilities(new), from_matrix)


def test_codes_array_only_for_a_booster_with_the_specs_levels(tmp_path: Path) -> None:
    from ml_assets.lib.scoring import _takes_codes_array

    spec = FeatureSpec(label="delayed", numeric=["a"], categorical={"c": ["x", "y", "z"]})
    train = xgboost_features(200, seed=0)
    model = xgboost.XGBClassifier(enable_categorical=True, n_estimators=5)
    model.fit(spec.matrix(train), spec.labels(train))
    save_model(model, spec, tmp_path / "same")
    assert _takes_codes_array(load_model(tmp_path / "same"))
    other = FeatureSpec(label="delayed", numeric=["a"], categorical={"c": ["x", "y"]})
    save_model(model, other, tmp_path / "other")
    assert not _takes_codes_array(load_model(tmp_path / "other"))

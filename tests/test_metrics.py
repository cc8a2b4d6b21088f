"""Tier 1: evaluation metrics as plain functions, against hand-computed values and edge cases."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.metrics import (
    binary_metrics,
    calibration_table,
    confusion,
    expected_calibration_error,
    majority_baseline,
    pr_points,
    roc_points,
    slice_metrics,
)

Y_SMALL = [1, 0, 1, 0]
P_SMALL = [0.9, 0.4, 0.6, 0.7]


def _calibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with exactly the predicted probability: a perfectly calibrated model."""
    rng = np.random.default_rng(seed)
    proba = rng.uniform(size=n)
    return (rng.uniform(size=n) < proba).astype(int), proba


def _no_nan(metrics: dict[str, float | None]) -> bool:
    return not any(isinstance(v, float) and math.isnan(v) for v in metrics.values())


def test_binary_metrics_match_hand_computed_values() -> None:
    # Predicted [1, 0, 1, 1]: tp=2, fp=1, fn=0, tn=1. Of the four positive/negative pairs only
    # (0.6, 0.7) is ranked wrongly; ranking by score gives precision 1 at recall 0.5, 2/3 at 1.
    metrics = binary_metrics(Y_SMALL, P_SMALL)
    expected = {
        "accuracy": 0.75,
        "precision": 2 / 3,
        "recall": 1.0,
        "f1": 0.8,
        "roc_auc": 0.75,
        "pr_auc": 0.5 * 1 + 0.5 * 2 / 3,
        "log_loss": -(math.log(0.9) + math.log(0.6) + math.log(0.6) + math.log(0.3)) / 4,
        "brier": (0.01 + 0.16 + 0.16 + 0.49) / 4,
        "positive_rate": 0.5,
        "predicted_positive_rate": 0.75,
    }
    assert set(metrics) == {*expected, "n"}
    assert metrics == pytest.approx({**expected, "n": 4})
    assert isinstance(metrics["n"], int)


@pytest.mark.parametrize(
    ("threshold", "precision", "recall", "predicted_positive_rate"),
    [(0.5, 2 / 3, 1.0, 0.75), (0.8, 1.0, 0.5, 0.25), (0.95, 0.0, 0.0, 0.0)],
)
@pytest.mark.filterwarnings("error")
def test_threshold_moves_precision_and_recall_and_zero_positives_give_zero(
    threshold: float, precision: float, recall: float, predicted_positive_rate: float
) -> None:
    metrics = binary_metrics(Y_SMALL, P_SMALL, threshold=threshold)
    assert metrics["precision"] == pytest.approx(precision)
    assert metrics["recall"] == pytest.approx(recall)
    assert metrics["predicted_positive_rate"] == pytest.approx(predicted_positive_rate)
    assert metrics["roc_auc"] == pytest.approx(0.75)  # ranking does not depend on the threshold


def test_perfect_classifier_scores_one() -> None:
    y = np.random.default_rng(1).integers(0, 2, size=1000)
    metrics = binary_metrics(y, np.where(y == 1, 0.9, 0.1))
    assert metrics["roc_auc"] == 1.0
    assert metrics["pr_auc"] == 1.0
    assert metrics["accuracy"] == 1.0
    assert metrics["f1"] == 1.0


def test_random_classifier_has_auc_near_one_half() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=20_000)
    metrics = binary_metrics(y, rng.uniform(size=20_000))
    assert metrics["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert metrics["pr_auc"] == pytest.approx(float(np.mean(y)), abs=0.02)


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.filterwarnings("error")
def test_single_class_labels_give_none_for_ranking_metrics_and_no_nan(label: int) -> None:
    metrics = binary_metrics([label] * 5, [0.1, 0.3, 0.5, 0.7, 0.9])
    assert metrics["roc_auc"] is None
    assert metrics["pr_auc"] is None
    assert _no_nan(metrics)
    assert metrics["n"] == 5
    assert metrics["positive_rate"] == label


def test_log_loss_is_finite_for_certain_wrong_predictions() -> None:
    metrics = binary_metrics([1, 0], [0.0, 1.0])
    # Clipped to [1e-15, 1 - 1e-15]; 1 - (1 - 1e-15) is not exactly 1e-15 in floating point.
    assert metrics["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-4)
    assert metrics["brier"] == 1.0


def test_nullable_pandas_inputs_are_accepted() -> None:
    y = pd.Series(Y_SMALL, dtype="Int64")
    proba = pd.Series(P_SMALL, dtype="Float64")
    assert binary_metrics(y, proba) == binary_metrics(Y_SMALL, P_SMALL)


@pytest.mark.parametrize(
    ("y", "proba", "message"),
    [
        ([], [], "no rows to evaluate"),
        ([0, 1], [0.5], "y_true has 2 rows but proba has 1"),
        ([0, 2], [0.5, 0.5], "only 0 and 1"),
        (pd.Series([0, None], dtype="Int64"), [0.5, 0.5], "missing labels"),
        ([0, 1], [0.5, float("nan")], "proba has 1 missing"),
        ([0, 1], [0.5, 1.5], r"proba must lie in \[0, 1\]"),
    ],
)
def test_invalid_input_raises_a_clear_error(y: object, proba: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, proba)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("y", "pred", "expected"),
    [
        ([0, 0, 1, 1, 1], [0, 1, 0, 1, 1], {"tn": 1, "fp": 1, "fn": 1, "tp": 2}),
        ([0, 0, 0], [0, 0, 0], {"tn": 3, "fp": 0, "fn": 0, "tp": 0}),
        ([1, 1], [0, 0], {"tn": 0, "fp": 0, "fn": 2, "tp": 0}),
        ([], [], {"tn": 0, "fp": 0, "fn": 0, "tp": 0}),
    ],
)
def test_confusion_counts(y: list[int], pred: list[int], expected: dict[str, int]) -> None:
    assert confusion(y, pred) == expected


def test_curves_are_downsampled_and_keep_their_area() -> None:
    y, proba = _calibrated(20_000)
    metrics = binary_metrics(y, proba)
    roc = roc_points(y, proba)
    pr = pr_points(y, proba)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert list(pr.columns) == ["recall", "precision"]
    assert 100 < len(roc) <= 200
    assert 100 < len(pr) <= 200
    assert roc.iloc[0][["fpr", "tpr"]].tolist() == [0.0, 0.0]
    assert roc.iloc[-1][["fpr", "tpr"]].tolist() == [1.0, 1.0]
    assert np.isfinite(roc["threshold"]).all()
    assert roc["threshold"].max() <= 1.0
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(metrics["roc_auc"], abs=0.005)
    recall, precision = pr["recall"].to_numpy(), pr["precision"].to_numpy()
    assert -np.sum(np.diff(recall) * precision[:-1]) == pytest.approx(metrics["pr_auc"], abs=0.01)


def test_small_curves_are_not_downsampled() -> None:
    roc = roc_points(Y_SMALL, P_SMALL)
    assert roc[["fpr", "tpr"]].to_numpy().tolist() == [
        [0.0, 0.0],
        [0.0, 0.5],
        [0.5, 0.5],
        [0.5, 1.0],
        [1.0, 1.0],
    ]


@pytest.mark.parametrize("curve", [roc_points, pr_points])
def test_curves_of_single_class_data_are_empty(curve: Callable[..., pd.DataFrame]) -> None:
    points = curve([1, 1, 1], [0.2, 0.5, 0.9])
    assert points.empty
    assert len(points.columns) >= 2


def test_perfectly_calibrated_data_has_small_ece_and_a_skewed_model_does_not() -> None:
    y, proba = _calibrated(20_000)
    assert expected_calibration_error(y, proba) < 0.03
    assert expected_calibration_error(y, proba**3) > 0.1


def test_calibration_table_bins_counts_and_omits_empty_bins() -> None:
    y = [0, 1, 0, 1, 1]
    proba = [0.05, 0.15, 0.12, 0.95, 1.0]
    table = calibration_table(y, proba, bins=10)
    columns = ["bin_lower", "bin_upper", "mean_predicted", "observed_rate", "count"]
    assert list(table.columns) == columns
    assert table["bin_lower"].tolist() == pytest.approx([0.0, 0.1, 0.9])
    assert table["bin_upper"].tolist() == pytest.approx([0.1, 0.2, 1.0])
    assert table["count"].tolist() == [1, 2, 2]  # 1.0 falls in the last, closed bin
    assert table["observed_rate"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert table["mean_predicted"].tolist() == pytest.approx([0.05, 0.135, 0.975])


def test_calibration_table_rejects_zero_bins() -> None:
    with pytest.raises(ValueError, match="bins must be at least 1"):
        calibration_table([0, 1], [0.2, 0.8], bins=0)


@pytest.fixture
def sliced() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    y, proba = _calibrated(1000, seed=3)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "origin": rng.choice(["EWR", "JFK", "LGA"], size=1000),
            "month": rng.integers(1, 4, size=1000),
        }
    )
    # Two rows of one carrier, both on-time: a single-class slice with an undefined AUC.
    frame["carrier"] = ["UA"] * 998 + ["HA"] * 2
    y[-2:] = 0
    return frame, y, proba


def test_slice_counts_sum_to_n_per_column_and_single_class_slices_give_none(
    sliced: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, y, proba = sliced
    table = slice_metrics(frame, y, proba, ["origin", "month", "carrier"])
    assert list(table.columns) == [
        "slice",
        "value",
        "count",
        "positive_rate",
        "roc_auc",
        "accuracy",
        "precision",
        "recall",
    ]
    assert table.groupby("slice")["count"].sum().to_dict() == {
        "carrier": 1000,
        "month": 1000,
        "origin": 1000,
    }
    hawaiian = table[(table["slice"] == "carrier") & (table["value"] == "HA")].iloc[0]
    assert hawaiian["roc_auc"] is None
    assert hawaiian["positive_rate"] == 0.0
    others = table[table["value"] != "HA"]
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in others["roc_auc"])
    assert not table.drop(columns=["roc_auc"]).isna().any().any()


def test_slices_are_sorted_by_column_then_count_and_filtered_by_min_count(
    sliced: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, y, proba = sliced
    table = slice_metrics(frame, y, proba, ["origin", "carrier"], min_count=10)
    assert table["slice"].tolist() == ["carrier", "origin", "origin", "origin"]
    origin_counts = table.loc[table["slice"] == "origin", "count"].tolist()
    assert origin_counts == sorted(origin_counts, reverse=True)
    assert "HA" not in table["value"].tolist()


def test_missing_slice_values_form_their_own_slice() -> None:
    frame = pd.DataFrame({"tailnum": ["N1", None, "N1", None]})
    table = slice_metrics(frame, [1, 0, 0, 1], [0.8, 0.3, 0.2, 0.6], ["tailnum"])
    assert table["value"].tolist() == ["N1", None]
    assert table["count"].tolist() == [2, 2]


def test_slice_values_are_plain_python_objects() -> None:
    frame = pd.DataFrame({"month": np.array([1, 1, 2], dtype=np.int64)})
    table = slice_metrics(frame, [1, 0, 1], [0.7, 0.2, 0.9], ["month"])
    assert [type(v) for v in table["value"]] == [int, int]


@pytest.mark.parametrize(
    ("columns", "rows", "message"),
    [(["dest"], 3, "slice columns not in frame"), (["origin"], 2, "frame has 2 rows")],
)
def test_slice_metrics_rejects_bad_input(columns: list[str], rows: int, message: str) -> None:
    frame = pd.DataFrame({"origin": ["EWR", "JFK", "LGA"][:rows]})
    with pytest.raises(ValueError, match=message):
        slice_metrics(frame, [0, 1, 1], [0.1, 0.7, 0.8], columns)


def test_majority_baseline_predicts_the_training_rate() -> None:
    y_train = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0])
    y_test = np.random.default_rng(4).integers(0, 2, size=500)
    baseline = majority_baseline(y_train, len(y_test))
    assert baseline.shape == (500,)
    assert np.all(baseline == 0.3)
    metrics = binary_metrics(y_test, baseline)
    assert metrics["roc_auc"] == 0.5
    rate = float(np.mean(y_test))
    expected_log_loss = -(rate * math.log(0.3) + (1 - rate) * math.log(0.7))
    assert metrics["log_loss"] == pytest.approx(expected_log_loss)


def test_majority_baseline_needs_training_labels() -> None:
    with pytest.raises(ValueError, match="y_train is empty"):
        majority_baseline([], 10)

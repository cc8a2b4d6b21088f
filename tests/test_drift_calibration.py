"""Calibrated drift thresholds and shares: quiet on days like the training window's, loud
on a shift, explicit thresholds win, declared categories judged as categories, never a
NaN."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config import load_pipeline_config
from ml_assets.lib.config.monitoring import CalibrationConfig, DriftConfig, StatTest
from ml_assets.lib.drift import compare, resolve_test
from ml_assets.lib.drift_calibration import (
    Calibration,
    calibrate,
    read_calibration,
    typical_day_rows,
)
from ml_assets.lib.drift_shares import drift_shares
from ml_assets.lib.drift_stats import ColumnKind
from ml_assets.lib.features import feature_kinds
from tests.conftest import FLIGHT_DELAYS_YAML

KINDS: dict[str, ColumnKind] = {
    "x": "numerical",
    "y": "numerical",
    "c": "categorical",
    "code": "categorical",
    "probability": "numerical",
}
TESTS = {
    "x": ("numerical", "wasserstein"),
    "y": ("numerical", "wasserstein"),
    "c": ("categorical", "jensenshannon"),
    "code": ("categorical", "jensenshannon"),
    "probability": ("numerical", "wasserstein"),
}
FEATURES = {c: k for c, k in KINDS.items() if c != "probability"}
POLICY = DriftConfig(min_rows=30, share_warn=0.25, share_error=0.5, save_html=False)
SETTINGS = CalibrationConfig(quantile=0.99, resamples=100, min_days=7)


def days(n_days: int, rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Days of ~`rows` rows whose rows share a day effect (as flights share the weather)."""
    rng = np.random.default_rng(seed)
    frames = []
    for d in range(n_days):
        effect = rng.normal(0, 0.3)
        n = int(rng.integers(rows * 3 // 4, rows * 5 // 4))
        mix = rng.dirichlet([40, 30, 30])
        frames.append(
            pd.DataFrame(
                {
                    "day": f"d{seed}-{d:03d}",
                    "x": rng.normal(effect + shift, 1, n),
                    "y": rng.exponential(1 + shift, n),
                    "c": pd.Series(rng.choice(["a", "b", "e"], n, p=mix), dtype="string"),
                    # Integer codes declared as a category: judged as categories.
                    "code": pd.array(rng.choice([1, 2, 3, 4], n), dtype="Int64"),
                    "probability": rng.beta(2, 5, n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


WINDOW = days(60, 150, seed=1)
REFERENCE = WINDOW.sample(2000, random_state=0)
POOL = WINDOW.drop(index=REFERENCE.index)


def calibrate_window(**changes: Any) -> Any:
    """`calibrate` on WINDOW's training pool, 30-row minimum, the four features shared."""
    return calibrate(
        REFERENCE,
        POOL,
        "day",
        TESTS,
        SETTINGS,
        day_rows=typical_day_rows(WINDOW["day"]),
        min_rows=30,
        seed=0,
        share_columns=list(FEATURES),
        **changes,
    )


CALIBRATION = calibrate_window()
# Thresholds and shares both left to calibration.
CALIBRATED = DriftConfig(min_rows=30, save_html=False)


def finite_or_reason(calibration: Calibration) -> None:
    for name, column in calibration.columns.items():
        if column.threshold is None:
            assert column.note, name
        else:
            assert math.isfinite(column.threshold) and column.threshold > 0, name


def test_every_column_is_calibrated_with_its_method() -> None:
    assert set(CALIBRATION.columns) == set(TESTS)
    assert {c: (t.kind, t.method) for c, t in CALIBRATION.columns.items()} == TESTS
    assert all(t.threshold is not None for t in CALIBRATION.columns.values())
    assert 100 <= CALIBRATION.day_rows <= 200 and CALIBRATION.days == 60
    finite_or_reason(CALIBRATION)


def test_days_like_the_training_window_stay_quiet() -> None:
    new_days = days(30, 150, seed=2)
    shares = []
    for _, day in new_days.groupby("day"):
        result = compare(day, REFERENCE, FEATURES, POLICY, False, CALIBRATION)
        assert all(c.threshold_source == "calibrated" for c in result.columns)
        shares.append(result.share)
    assert np.mean(shares) <= 0.05, shares


def test_the_default_thresholds_flag_the_same_days() -> None:
    """What the user saw: Evidently's default thresholds flag days of ~150 rows that come
    from the very same process as the reference."""
    new_days = days(30, 150, seed=2)
    shares = [
        compare(day, REFERENCE, FEATURES, POLICY, False, None).share
        for _, day in new_days.groupby("day")
    ]
    assert np.mean(shares) >= 0.2, shares


def test_a_shifted_day_is_flagged() -> None:
    shifted = days(10, 150, seed=3, shift=2.0)
    for _, day in shifted.groupby("day"):
        result = compare(day, REFERENCE, FEATURES, POLICY, False, CALIBRATION)
        assert {"x", "y"} <= set(result.drifted_columns), result.reason
        assert result.prediction is not None and not result.prediction.drifted


def test_explicit_thresholds_win_over_calibration() -> None:
    policy = POLICY.model_copy(
        update={
            "numerical": StatTest(method="wasserstein", threshold=5.0),
            "columns": {"c": StatTest(method="jensenshannon", threshold=0.9)},
        }
    )
    x = resolve_test("x", "numerical", policy, CALIBRATION)
    assert (x.threshold, x.source) == (5.0, "configured")
    c = resolve_test("c", "categorical", policy, CALIBRATION)
    assert (c.threshold, c.source) == (0.9, "configured")
    code = resolve_test("code", "categorical", policy, CALIBRATION)
    assert code.source == "calibrated"
    assert code.threshold == CALIBRATION.columns["code"].threshold
    day = days(1, 150, seed=3, shift=1.0)
    result = compare(day, REFERENCE, FEATURES, policy, False, CALIBRATION)
    assert "x" not in result.drifted_columns  # 5.0 normed Wasserstein: not reached
    table = result.table().set_index("column")
    assert table.loc["x", "threshold_source"] == "configured"
    assert table.loc["code", "threshold_source"] == "calibrated"


def test_a_calibration_for_another_method_is_not_used() -> None:
    policy = POLICY.model_copy(update={"columns": {"x": StatTest(method="psi")}})
    x = resolve_test("x", "numerical", policy, CALIBRATION)
    assert x.source == "default" and "calibrated for wasserstein" in x.note


def test_without_a_calibration_the_default_says_why() -> None:
    x = resolve_test("x", "numerical", POLICY, None)
    assert (x.threshold, x.source) == (0.1, "default")
    assert "no calibrated thresholds" in x.note


def test_yaml_thresholds_still_load_and_unset_ones_are_calibrated() -> None:
    config = load_pipeline_config(FLIGHT_DELAYS_YAML)
    drift = config.monitoring.drift  # type: ignore[union-attr]
    assert drift.numerical.threshold == 0.08 and drift.columns["temp"].threshold == 2.0
    assert DriftConfig().numerical.threshold is None
    assert DriftConfig().calibration.quantile == 0.99


def test_integer_codes_declared_category_are_categorical(tmp_path: Path) -> None:
    hours = [str(h) for h in range(24)]
    yaml = f"""
extends: {FLIGHT_DELAYS_YAML}
sources:
  flights:
    columns:
      hour: {{type: category, min: null, max: null, allowed: {json.dumps(hours)}}}
      # A category hour no longer repeats time_hour's hour as a number.
      time_hour: {{parts: {{hour: null}}}}
features:
  definitions:
    hour_code: {{op: passthrough, column: hour}}
"""
    (tmp_path / "p.yaml").write_text(yaml)
    kinds = feature_kinds(load_pipeline_config(tmp_path / "p.yaml"))
    assert kinds["hour_code"] == "categorical"
    # Codes read as floats (a column with nulls) are the same categories as integers.
    reference = pd.DataFrame({"code": pd.array([1, 2, 3] * 100, dtype="Int64")})
    day = pd.DataFrame({"code": [1.0, 2.0, 3.0, np.nan] * 25})
    result = compare(day, reference, {"code": "categorical"}, POLICY, False, None)
    assert result.columns[0].method == "jensenshannon"
    assert result.unseen_categories == {} and not result.columns[0].drifted


def test_a_numeric_test_on_a_categorical_column_is_a_clear_error() -> None:
    policy = POLICY.model_copy(
        update={"columns": {"code": StatTest(method="wasserstein", threshold=2.0)}}
    )
    with pytest.raises(ValueError, match=r"drift\.columns\.code: wasserstein cannot judge"):
        compare(days(1, 150, seed=4), REFERENCE, FEATURES, policy, False, CALIBRATION)


def test_constant_and_all_missing_columns_get_a_finite_threshold_or_a_reason() -> None:
    window = WINDOW.assign(k=7.0, gone=np.nan, label=pd.Series(["z"] * len(WINDOW)))
    reference = window.sample(1000, random_state=0)
    tests = {
        "k": ("numerical", "wasserstein"),
        "gone": ("numerical", "wasserstein"),
        "label": ("categorical", "jensenshannon"),
        "kp": ("numerical", "ks"),
    }
    window["kp"] = 3.0
    reference = reference.assign(kp=3.0)
    calibration = calibrate(
        reference, window, "day", tests, SETTINGS, day_rows=150, min_rows=30, seed=0
    )
    finite_or_reason(calibration)
    assert calibration.columns["k"].threshold is not None
    assert "constant" in calibration.columns["k"].note
    assert calibration.columns["gone"].threshold is None
    assert "no values" in calibration.columns["gone"].note
    assert calibration.columns["label"].threshold is not None
    json.loads(calibration.to_json())  # strict JSON: a NaN would not serialise


@pytest.mark.parametrize(
    ("n_days", "rows", "reason"),
    [(3, 150, "calibration needs 7"), (60, 10, "fewer than the 30")],
)
def test_a_tiny_training_window_is_not_calibrated_and_says_why(
    n_days: int, rows: int, reason: str
) -> None:
    window = days(n_days, rows, seed=5)
    calibration = calibrate(
        window,
        window,
        "day",
        TESTS,
        SETTINGS,
        day_rows=typical_day_rows(window["day"]),
        min_rows=30,
        seed=0,
    )
    assert all(c.threshold is None for c in calibration.columns.values())
    assert all(reason in c.note for c in calibration.columns.values())
    resolved = resolve_test("x", "numerical", POLICY, calibration)
    assert resolved.source == "default" and reason in resolved.note


def test_thresholds_round_trip_through_the_reference_folder(tmp_path: Path) -> None:
    (tmp_path / "thresholds.json").write_text(CALIBRATION.to_json())
    assert read_calibration(tmp_path) == CALIBRATION
    assert read_calibration(tmp_path / "missing") is None


def test_the_drifted_share_is_calibrated_on_training_days() -> None:
    one_column = 1 / len(FEATURES)
    warn, error = CALIBRATION.share_warn, CALIBRATION.share_error
    assert warn is not None and error is not None
    assert one_column <= warn <= error <= 1
    quiet = [
        compare(day, REFERENCE, FEATURES, CALIBRATED, False, CALIBRATION)
        for _, day in days(30, 150, seed=2).groupby("day")
    ]
    # With four features the error share is one column (the floor): a day of the same
    # process still reaches it now and then, but rarely.
    assert sum(r.verdict == "error" for r in quiet) <= 3, [r.reason for r in quiet]
    shifted = days(10, 150, seed=3, shift=2.0)
    for _, day in shifted.groupby("day"):
        result = compare(day, REFERENCE, FEATURES, CALIBRATED, False, CALIBRATION)
        assert result.verdict == "error", result.reason
        assert "(calibrated)" in result.reason
        assert result.shares is not None and result.shares.error_source == "calibrated"


def test_configured_shares_win_and_old_references_fall_back_to_the_defaults() -> None:
    shares = drift_shares(DriftConfig(share_error=0.9), CALIBRATION)
    assert (shares.error, shares.error_source) == (0.9, "configured")
    assert shares.warn_source == "calibrated" and shares.warn <= 0.9
    old = json.loads(CALIBRATION.to_json())
    old.update(format=1)
    del old["share_warn"], old["share_error"]
    before_shares = Calibration.from_json(json.dumps(old))
    fallback = drift_shares(CALIBRATED, before_shares)
    assert (fallback.warn, fallback.error) == (0.3, 0.5)
    assert fallback.error_source == "default"


def test_the_share_counts_columns_as_the_config_judges_them() -> None:
    """A threshold fixed in the config judges the training days too: two of four features
    that always drift put every training day at half its features or more."""
    calibration = calibrate_window(configured={"x": 1e-9, "y": 1e-9})
    assert calibration.share_warn is not None and calibration.share_warn >= 0.5

"""Tier 1: `served_drift`'s checks over the models and arms of a day: a calm champion arm
and a challenger arm whose features and predictions drifted (drift results as
`ml_assets.lib.drift.compare` returns them, built here: the comparison itself is tested in
tests/test_drift.py, and calling it would cost this test Evidently's import)."""

from dagster import AssetCheckSeverity

from ml_assets.assets.drift_monitoring import (
    DRIFT_CHECKS,
    FEATURE_DRIFT,
    PREDICTION_DRIFT,
    UNSEEN_CATEGORIES,
    drift_checks,
)
from ml_assets.assets.served_drift import _served_checks
from ml_assets.lib.drift import ColumnDrift, DriftResult


def _result(shift: float, unseen: dict[str, list[str]]) -> DriftResult:
    def column(name: str, kind: str) -> ColumnDrift:
        return ColumnDrift(name, kind, "wasserstein", 0.1, shift, drifted=shift > 0.1)

    columns = [column("distance", "numerical"), column("dep_hour", "numerical")]
    drifted = shift > 0.1
    return DriftResult(
        rows=500,
        reference_rows=5000,
        columns=columns,
        prediction=column("probability", "numerical"),
        unseen_categories=unseen,
        verdict="error" if drifted else "ok",
        reason=f"{2 if drifted else 0} of 2 columns drifted",
    )


def test_a_check_fails_when_one_arm_fails_and_says_which() -> None:
    judged = [
        ("v1 (champion)", list(drift_checks(_result(0.02, {}), "1"))),
        ("v2 (challenger)", list(drift_checks(_result(0.4, {"carrier": ["ZZ"]}), "2"))),
    ]
    results = {r.check_name: r for r in _served_checks(judged)}
    assert list(results) == list(DRIFT_CHECKS)
    feature = results[FEATURE_DRIFT]
    assert not feature.passed and feature.severity == AssetCheckSeverity.ERROR
    assert feature.description == (
        "v1 (champion): 0 of 2 columns drifted; v2 (challenger): 2 of 2 columns drifted"
    )
    judged_rows = feature.metadata["judged"].value  # type: ignore[attr-defined]
    verdicts = [(j["model"], j["passed"], j["verdict"]) for j in judged_rows]
    assert verdicts == [("v1 (champion)", True, "ok"), ("v2 (challenger)", False, "error")]
    # The other two fail as warnings, naming the challenger's drift and its new category.
    for name in (PREDICTION_DRIFT, UNSEEN_CATEGORIES):
        assert not results[name].passed
        assert results[name].severity == AssetCheckSeverity.WARN
    assert "v2 (challenger): carrier: ZZ" in str(results[UNSEEN_CATEGORIES].description)

    alone = {r.check_name: r for r in _served_checks(judged[:1])}
    assert all(r.passed for r in alone.values())


def test_a_day_without_traffic_passes_with_no_verdict() -> None:
    results = list(_served_checks([]))
    assert [r.check_name for r in results] == list(DRIFT_CHECKS)
    assert all(r.passed and "no verdict" in str(r.description) for r in results)

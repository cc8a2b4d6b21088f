"""Drift of a day against a reference: verdicts, edge cases, never a crash or a NaN."""

import math

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.config.monitoring import DriftConfig, StatTest
from ml_assets.lib.drift import compare, is_drift

KINDS = {"x": "numerical", "y": "numerical", "c": "categorical", "k": "numerical"}
POLICY = DriftConfig(min_rows=20, share_warn=0.25, share_error=0.5, save_html=False)


def frame(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n),
            "y": rng.normal(shift, 1, n),
            "c": pd.Series(rng.choice(["a", "b"], n), dtype="string"),
            "k": pd.Series([7] * n, dtype="Int64"),
            "probability": rng.uniform(0, 1, n),
        }
    )


REFERENCE = frame(2000, seed=1)


def no_nan(result) -> None:  # type: ignore[no-untyped-def]
    for column in [*result.columns, *([result.prediction] if result.prediction else [])]:
        assert column.score is None or math.isfinite(column.score), column


def test_same_distribution_is_ok() -> None:
    result = compare(frame(500, seed=2), REFERENCE, KINDS, POLICY)
    assert result.verdict == "ok", result.reason
    assert result.share < 0.25
    assert result.prediction is not None and not result.prediction.drifted
    no_nan(result)


def test_shifted_numbers_are_an_error_naming_the_columns() -> None:
    result = compare(frame(500, shift=3, seed=2), REFERENCE, KINDS, POLICY)
    assert result.verdict == "error"
    assert set(result.drifted_columns) == {"x", "y"}
    assert "x" in result.reason and "y" in result.reason


@pytest.mark.parametrize("rows", [0, 5])
def test_empty_or_tiny_day_has_no_verdict(rows: int) -> None:
    result = compare(frame(rows), REFERENCE, KINDS, POLICY)
    assert result.verdict == "no_verdict"
    assert ("empty" in result.reason) == (rows == 0)
    assert result.columns == [] and result.share == 0.0


def test_an_all_missing_column_is_drifted_with_a_note_not_a_crash() -> None:
    day = frame(300, seed=3)
    day["x"] = np.nan
    result = compare(day, REFERENCE, KINDS, POLICY)
    x = next(c for c in result.columns if c.column == "x")
    assert x.drifted and x.score is None and "missing" in x.note
    no_nan(result)


def test_constant_columns_are_compared_by_value() -> None:
    same = compare(frame(300, seed=4), REFERENCE, KINDS, POLICY)
    assert not next(c for c in same.columns if c.column == "k").drifted
    day = frame(300, seed=4)
    day["k"] = pd.Series([9] * 300, dtype="Int64")
    other = compare(day, REFERENCE, KINDS, POLICY)
    assert next(c for c in other.columns if c.column == "k").drifted
    no_nan(same)
    no_nan(other)


def test_unseen_categories_are_listed() -> None:
    day = frame(300, seed=5)
    day.loc[:9, "c"] = "zz"
    result = compare(day, REFERENCE, KINDS, POLICY)
    assert result.unseen_categories == {"c": ["zz"]}


def test_per_column_methods_and_ignored_columns_come_from_the_config() -> None:
    policy = POLICY.model_copy(
        update={
            "columns": {"x": StatTest(method="psi", threshold=0.2)},
            "ignore_columns": ["y"],
        }
    )
    result = compare(frame(300, seed=6), REFERENCE, KINDS, policy)
    methods = {c.column: c.method for c in result.columns}
    assert methods == {"x": "psi", "c": "jensenshannon", "k": "wasserstein"}


def test_html_report_is_self_contained_when_asked() -> None:
    policy = POLICY.model_copy(update={"save_html": True})
    result = compare(frame(100, seed=7), REFERENCE, KINDS, policy, with_html=True)
    assert result.html is not None and "<html" in result.html.lower()


@pytest.mark.parametrize(
    ("method", "score", "threshold", "drifted"),
    [
        ("wasserstein", 0.2, 0.1, True),
        ("wasserstein", 0.05, 0.1, False),
        ("ks", 0.01, 0.05, True),
        ("ks", 0.5, 0.05, False),
    ],
)
def test_distances_drift_above_and_p_values_below(
    method: str, score: float, threshold: float, drifted: bool
) -> None:
    assert is_drift(method, score, threshold) is drifted


@pytest.mark.parametrize(
    ("shift", "rows"), [(0.0, 500), (0.4, 300), (2.0, 60)], ids=["same", "slight", "far"]
)
def test_verdicts_without_the_report_are_the_reports_own(shift: float, rows: int) -> None:
    """Without HTML the scores come from Evidently's stat tests called directly: the same
    scores and verdicts as the report's, constant and categorical columns included."""
    day = frame(rows, shift=shift, seed=3)
    fast = compare(day, REFERENCE, KINDS, POLICY, with_html=False)
    full = compare(day, REFERENCE, KINDS, POLICY, with_html=True)
    assert full.html and fast.html is None
    for quick, reported in zip(
        [*fast.columns, fast.prediction], [*full.columns, full.prediction], strict=True
    ):
        assert quick is not None and reported is not None
        assert quick.column == reported.column and quick.drifted == reported.drifted
        assert quick.score == pytest.approx(reported.score, rel=1e-9), quick.column
    assert (fast.verdict, fast.reason) == (full.verdict, full.reason)

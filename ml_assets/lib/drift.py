"""Drift of one day of features and predictions against a champion's reference sample.

The stat tests are Evidently 0.7's; this module decides what goes into the report and
reads the verdicts out. Edge cases that break a report or give NaN (an empty day, an
all-missing or constant column) are decided here, with the reason, so every column gets
a verdict and no score is NaN. Each column's threshold is the configured one when the
config gives it, else the one calibrated with the reference (`drift_calibration`), else
Evidently's default for the method, with the reason it was not calibrated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ml_assets.lib.config.monitoring import DriftConfig, StatTest
from ml_assets.lib.drift_calibration import Calibration
from ml_assets.lib.drift_scores import direct_scores, evidently_scores
from ml_assets.lib.drift_shares import DriftShares, ThresholdSource, drift_shares, share_metadata
from ml_assets.lib.drift_stats import (
    ColumnKind,
    category_values,
    default_threshold,
    is_drift,
    method_fits,
    unseen_categories,
)
from ml_assets.lib.problems import Problem

__all__ = ["ColumnKind", "compare", "is_drift", "resolve_test", "summary_metadata"]

Verdict = Literal["ok", "warn", "error", "no_verdict"]
PREDICTION = "probability"
MAX_UNSEEN_LISTED = 20


@dataclass(frozen=True)
class ResolvedTest:
    """The stat test a column is judged with, and where its threshold comes from."""

    method: str
    threshold: float
    source: ThresholdSource
    note: str = ""


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    method: str
    threshold: float
    score: float | None
    drifted: bool
    note: str = ""
    threshold_source: str = "configured"


@dataclass(frozen=True)
class DriftResult:
    rows: int
    reference_rows: int
    columns: list[ColumnDrift]
    prediction: ColumnDrift | None
    unseen_categories: dict[str, list[str]]
    verdict: Verdict
    reason: str
    html: str | None = field(default=None, repr=False)
    shares: DriftShares | None = None  # the warning / error shares the verdict used

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    def table(self) -> pd.DataFrame:
        rows = [*self.columns, *([self.prediction] if self.prediction else [])]
        return pd.DataFrame(
            [vars(c) for c in rows],
            columns=[
                "column",
                "kind",
                "method",
                "threshold",
                "threshold_source",
                "score",
                "drifted",
                "note",
            ],
        ).astype({"score": "Float64", "drifted": "boolean"})


def compare(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    kinds: Mapping[str, ColumnKind],
    policy: DriftConfig,
    with_html: bool = True,
    calibration: Calibration | None = None,
    prediction: tuple[str, ColumnKind] = (PREDICTION, "numerical"),
) -> DriftResult:
    """Per-column drift of `current` against `reference`, the drifted share and a verdict.

    `kinds` names the feature columns to compare (numerical or categorical); the
    `prediction` column (binary: `probability`; multiclass: the predicted `label`, as
    categories; regression: `prediction`) is compared too when both frames have it.
    `calibration` holds the thresholds calibrated with `reference`, used for every
    column whose threshold the config leaves unset.
    """
    features = {c: k for c, k in kinds.items() if c not in set(policy.ignore_columns)}
    if len(current) < policy.min_rows:
        reason = (
            "empty partition: no rows to compare"
            if current.empty
            else f"{len(current)} rows, fewer than the {policy.min_rows} a verdict needs"
        )
        return DriftResult(len(current), len(reference), [], None, {}, "no_verdict", reason)
    if reference.empty:
        raise ValueError("the reference sample is empty: the champion has no reference profile")
    tests = {c: resolve_test(c, k, policy, calibration) for c, k in features.items()}
    compared = {c: k for c, k in features.items() if _has_values(current, c, reference)}
    column, kind = prediction
    predictions = column in current.columns and column in reference.columns
    evidently_kinds: dict[str, ColumnKind] = dict(compared)
    if predictions:
        tests[column] = resolve_test(column, kind, policy, calibration, is_prediction=True)
        if _has_values(current, column, reference):
            evidently_kinds[column] = kind
    methods = {c: tests[c].method for c in evidently_kinds}
    thresholds = {c: tests[c].threshold for c in evidently_kinds}
    if with_html:
        scores, html = evidently_scores(current, reference, evidently_kinds, methods, thresholds)
    else:
        scores, html = direct_scores(current, reference, evidently_kinds, methods), None
    columns = [
        _column_verdict(c, k, tests[c], scores.get(c), current, reference)
        for c, k in features.items()
    ]
    predicted = (
        _column_verdict(column, "prediction", tests[column], scores.get(column), current, reference)
        if predictions
        else None
    )
    categorical = [c for c, k in compared.items() if k == "categorical"]
    unseen = unseen_categories(current, reference, categorical, MAX_UNSEEN_LISTED)
    shares = drift_shares(policy, calibration)
    verdict, reason = _verdict(columns, shares)
    return DriftResult(
        len(current), len(reference), columns, predicted, unseen, verdict, reason, html, shares
    )


def prediction_of(problem: Problem) -> tuple[str, ColumnKind]:
    """The column a problem type's prediction drift compares, and its kind."""
    kind: ColumnKind = "categorical" if problem.drift_kind == "categorical" else "numerical"
    return problem.drift_column, kind


def configured_test(
    column: str, kind: ColumnKind, policy: DriftConfig, is_prediction: bool = False
) -> StatTest:
    """The config's test of a column: its own override, else the one of its kind (the
    prediction's own for the prediction column)."""
    if column in policy.columns:
        return policy.columns[column]
    if is_prediction and kind == "numerical":
        return policy.prediction
    return policy.numerical if kind == "numerical" else policy.categorical


def configured_thresholds(
    columns: list[str], tests: Mapping[str, tuple[ColumnKind, str]], policy: DriftConfig
) -> dict[str, float]:
    """The thresholds the config sets for `columns` (kind and method in `tests`)."""
    thresholds = {c: configured_test(c, tests[c][0], policy).threshold for c in columns}
    return {c: t for c, t in thresholds.items() if t is not None}


def resolve_test(
    column: str,
    kind: ColumnKind,
    policy: DriftConfig,
    calibration: Calibration | None,
    is_prediction: bool = False,
) -> ResolvedTest:
    """A threshold set in the config wins; else the calibrated one, if it was calibrated
    with the same method; else Evidently's default, with the reason."""
    test = configured_test(column, kind, policy, is_prediction)
    where = f"drift.columns.{column}" if column in policy.columns else f"drift ({kind})"
    if not method_fits(test.method, kind):
        raise ValueError(f"{where}: {test.method} cannot judge {column!r}, a {kind} column")
    if test.threshold is not None:
        return ResolvedTest(test.method, test.threshold, "configured")
    calibrated = calibration.columns.get(column) if calibration else None
    if calibration is None:
        reason = "the reference has no calibrated thresholds (built before calibration)"
    elif calibrated is None:
        reason = "not calibrated with this reference (left out of drift when it was built)"
    elif calibrated.method != test.method:
        reason = f"calibrated for {calibrated.method}, the config asks for {test.method}"
    elif calibrated.threshold is None:
        reason = calibrated.note
    else:
        return ResolvedTest(test.method, calibrated.threshold, "calibrated", calibrated.note)
    return ResolvedTest(
        test.method, default_threshold(test.method), "default", f"not calibrated: {reason}"
    )


def _has_values(current: pd.DataFrame, column: str, reference: pd.DataFrame) -> bool:
    return bool(current[column].notna().any() and reference[column].notna().any())


def _column_verdict(
    column: str,
    kind: str,
    test: ResolvedTest,
    score: float | None,
    current: pd.DataFrame,
    reference: pd.DataFrame,
) -> ColumnDrift:
    def verdict(score: float | None, drifted: bool, note: str = "") -> ColumnDrift:
        note = "; ".join(n for n in (note, test.note) if n)
        return ColumnDrift(
            column, kind, test.method, test.threshold, score, drifted, note, test.source
        )

    cur, ref = current[column].dropna(), reference[column].dropna()
    if cur.empty and ref.empty:
        return verdict(None, False, "all values missing, as in the reference")
    if cur.empty:
        return verdict(None, True, "all values missing (the reference has values)")
    if ref.empty:
        return verdict(None, False, "the reference has no values: not compared")
    if score is not None and math.isfinite(score):
        return verdict(round(score, 6), is_drift(test.method, score, test.threshold))
    # A constant column can give a NaN p-value: compare the values themselves.
    same = set(category_values(cur)) == set(category_values(ref))
    note = "constant values, " + ("the same as the reference" if same else "unlike the reference")
    return verdict(None, not same, note)


def _verdict(columns: list[ColumnDrift], shares: DriftShares) -> tuple[Verdict, str]:
    if not columns:
        return "no_verdict", "no feature columns to compare"
    drifted = [c.column for c in columns if c.drifted]
    share = len(drifted) / len(columns)
    listed = ", ".join(drifted[:8]) + (" …" if len(drifted) > 8 else "")
    summary = f"{len(drifted)} of {len(columns)} features drifted ({share:.0%})"
    summary += f": {listed}" if drifted else ""
    if share >= shares.error:
        return "error", f"{summary}; error at {shares.error:.0%} ({shares.error_source})"
    if share >= shares.warn:
        return "warn", f"{summary}; warning at {shares.warn:.0%} ({shares.warn_source})"
    return "ok", summary


def summary_metadata(result: DriftResult) -> dict[str, Any]:
    """Plain numbers and strings for asset metadata (never NaN)."""
    judged = [*result.columns, *([result.prediction] if result.prediction else [])]
    sources = sorted({c.threshold_source for c in judged})
    return {
        "rows": result.rows,
        "reference_rows": result.reference_rows,
        "verdict": result.verdict,
        "drifted_share": round(result.share, 4),
        "drifted_columns": result.drifted_columns,
        "prediction_drifted": bool(result.prediction and result.prediction.drifted),
        "prediction_score": result.prediction.score if result.prediction else None,
        "unseen_categories": result.unseen_categories,
        "reason": result.reason,
        "threshold_sources": {s: sum(c.threshold_source == s for c in judged) for s in sources},
        **(share_metadata(result.shares) if result.shares else {}),
    }

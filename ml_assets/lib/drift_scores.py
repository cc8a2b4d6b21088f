"""A day's drift score per column, two ways that give the same numbers: Evidently 0.7's
`DataDriftPreset` report (with its HTML, what the `drift_report` asset keeps), or
Evidently's stat tests called directly (`drift_stats.column_score`), 20-60x faster when no
HTML is wanted."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ml_assets.lib.drift_stats import ColumnKind, column_score, prepared


def direct_scores(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    kinds: Mapping[str, ColumnKind],
    methods: Mapping[str, str],
) -> dict[str, float]:
    """The scores a report would give, from Evidently's stat tests called directly: the
    same numbers (`drift_stats`) without building a report, 20-60x faster."""
    cur, ref = prepared(current, kinds), prepared(reference, kinds)
    scores = {c: column_score(ref[c], cur[c], k, methods[c]) for c, k in kinds.items()}
    return {c: s for c, s in scores.items() if s is not None}


def evidently_scores(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    kinds: Mapping[str, ColumnKind],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> tuple[dict[str, float], str | None]:
    """Evidently's `DataDriftPreset` report: the score of each column, and its HTML (None
    with no column to compare)."""
    if not kinds:
        return {}, None
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numerical"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )
    report = Report(
        [
            DataDriftPreset(
                columns=list(kinds),
                per_column_method=dict(methods),
                per_column_threshold=dict(thresholds),
            )
        ]
    )
    snapshot = report.run(
        Dataset.from_pandas(_plain(current, kinds), data_definition=definition),
        Dataset.from_pandas(_plain(reference, kinds), data_definition=definition),
    )
    scores: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        column = metric["config"].get("column")
        if column in kinds and isinstance(metric["value"], int | float):
            scores[column] = float(metric["value"])
    return scores, snapshot.get_html_str(as_iframe=False)


def _plain(frame: pd.DataFrame, kinds: Mapping[str, ColumnKind]) -> pd.DataFrame:
    return prepared(frame, kinds).reset_index(drop=True)

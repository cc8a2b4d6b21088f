"""The blocking checks of a validated dataset: rows in every partition, a bounded
quarantine rate, every declared column present."""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from ml_assets.lib.validation import ValidationOutcome

NOT_EMPTY = "not_empty"
QUARANTINE_RATE = "quarantine_rate_below_threshold"
SCHEMA_AS_DECLARED = "schema_as_declared"


def validation_check_specs(valid_key: AssetKey, max_rate: float) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            NOT_EMPTY,
            asset=valid_key,
            blocking=True,
            description="Each partition has at least the configured rows.",
        ),
        AssetCheckSpec(
            QUARANTINE_RATE,
            asset=valid_key,
            blocking=True,
            description=f"Each partition quarantines at most {max_rate:.1%} of its rows.",
        ),
        AssetCheckSpec(
            SCHEMA_AS_DECLARED,
            asset=valid_key,
            blocking=True,
            description="Every declared column is present with its declared type.",
        ),
    ]


def validation_checks(
    outcome: ValidationOutcome,
    partitions: tuple[list[str | None], str | None],
    min_rows: int,
    max_rate: float,
    asset_key: AssetKey,
) -> Iterator[AssetCheckResult]:
    days, column = partitions
    valid_per_day = _rows_per_day(outcome.valid, days, column)
    quarantined_per_day = _rows_per_day(outcome.quarantined, days, column)
    yield _not_empty_check(valid_per_day, min_rows, asset_key)
    rates = {
        day: quarantined_per_day[day] / total
        for day in days
        if (total := valid_per_day[day] + quarantined_per_day[day])
    }
    yield _quarantine_rate_check(rates, max_rate, list(outcome.reason_counts)[:3], asset_key)
    yield _schema_check(outcome, asset_key)


def _not_empty_check(
    valid_per_day: dict[str | None, int], min_rows: int, asset_key: AssetKey
) -> AssetCheckResult:
    short = [d or "table" for d, n in valid_per_day.items() if n < min_rows]
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=NOT_EMPTY,
        passed=not short,
        description=(
            f"{len(short)} partition(s) with fewer than {min_rows} valid rows: "
            f"{', '.join(short[:10])}"
        )
        if short
        else None,
        metadata={
            "min_valid_rows": min(valid_per_day.values(), default=0),
            "partitions_below_minimum": len(short),
        },
    )


def _quarantine_rate_check(
    rates: dict[str | None, float], max_rate: float, top_reasons: list[str], asset_key: AssetKey
) -> AssetCheckResult:
    over = {d or "table": r for d, r in rates.items() if r > max_rate}
    worst = max(rates.items(), key=lambda item: item[1], default=(None, 0.0))
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=QUARANTINE_RATE,
        passed=not over,
        description=(
            f"quarantine rate over {max_rate:.1%} in {len(over)} partition(s), worst "
            f"{worst[1]:.1%} on {worst[0] or 'table'}; top reasons: {top_reasons}"
        )
        if over
        else None,
        metadata={
            "worst_rate": round(worst[1], 6),
            "worst_partition": str(worst[0] or "table"),
            "partitions_over_threshold": len(over),
        },
    )


def _schema_check(outcome: ValidationOutcome, asset_key: AssetKey) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=SCHEMA_AS_DECLARED,
        passed=not outcome.missing_columns,
        description=(
            f"missing declared column(s): {', '.join(outcome.missing_columns)}"
            if outcome.missing_columns
            else None
        ),
        metadata={
            "missing_columns": ", ".join(outcome.missing_columns) or "none",
            "ignored_columns": ", ".join(outcome.ignored_columns) or "none",
        },
        severity=AssetCheckSeverity.ERROR,
    )


def _rows_per_day(
    frame: pd.DataFrame, days: list[str | None], column: str | None
) -> dict[str | None, int]:
    if column is None:
        return {None: len(frame)}
    counts = frame[column].value_counts() if column in frame.columns else pd.Series()
    return {day: int(counts.get(day, 0)) for day in days}

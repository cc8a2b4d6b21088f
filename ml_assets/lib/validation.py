"""Split raw rows into valid rows and quarantined rows, each quarantined row with its reasons.

Nothing is dropped: every input row ends up in exactly one of the two outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config.models import ColumnSpec
from .datetime_parts import disagreement_kind, frame_disagreements
from .schema import coerce_column, empty_frame, to_pandera_schema

REASON_COLUMN = "_quarantine_reason"
# Set by the reader on rows it could not read as sent (e.g. bytes that are not UTF-8):
# validation quarantines them with this text as the reason.
READ_ERROR_COLUMN = "_read_error"
_UNDECODABLE = r"[\udc80-\udcff]"  # what surrogateescape made of bytes that are not UTF-8

_CHECK_WORDS = {
    "not_nullable": "is missing",
    "field_uniqueness": "duplicates an earlier row",
    "multiple_fields_uniqueness": "duplicates an earlier row",
}


@dataclass(frozen=True)
class ValidationOutcome:
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    reason_counts: dict[str, int] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def quarantine_rate(self) -> float:
        total = len(self.valid) + len(self.quarantined)
        return len(self.quarantined) / total if total else 0.0


def validate_frame(
    raw: pd.DataFrame,
    columns: Mapping[str, ColumnSpec],
    primary_key: Sequence[str] = (),
    *,
    name: str = "data",
    carry_columns: Sequence[str] = (),
) -> ValidationOutcome:
    """Coerce `raw` to the declared schema and validate it with pandera, row by row.

    `carry_columns` (such as the partition date) are not part of the schema but travel
    with each row into both outputs.
    """
    raw = raw.reset_index(drop=True)
    carried = [c for c in carry_columns if c in raw.columns]
    missing = [c for c in columns if c not in raw.columns]
    ignored = [
        c for c in raw.columns if c not in columns and c not in carried and c != READ_ERROR_COLUMN
    ]
    if missing:
        reason = f"missing column(s) {', '.join(missing)}: the file does not match the schema"
        reasons = pd.Series(reason, index=raw.index, dtype="string")
        return ValidationOutcome(
            valid=_with_carried(empty_frame(columns), raw.iloc[:0], carried),
            quarantined=_quarantine(raw, reasons),
            reason_counts={f"missing column(s) {', '.join(missing)}": len(raw)} if len(raw) else {},
            missing_columns=missing,
            ignored_columns=ignored,
        )

    coerced = pd.DataFrame({c: coerce_column(raw[c], spec) for c, spec in columns.items()})
    problems: dict[int, list[str]] = {}
    type_failed: set[tuple[int, str]] = set()
    for column, spec in columns.items():
        bad = raw[column].notna() & coerced[column].isna()
        if isinstance(raw[column].dtype, pd.StringDtype) or raw[column].dtype == object:
            bad &= raw[column].astype("string").str.len() > 0
        for row in map(int, np.flatnonzero(bad.to_numpy())):
            value = raw[column].iat[row]
            problems.setdefault(row, []).append(f"{column}: {value!r} is not a valid {spec.type}")
            type_failed.add((row, column))

    refused = set(type_failed)
    for row, column, text in _pandera_failures(coerced, columns, primary_key, name):
        refused.add((row, column))
        if (row, column) not in type_failed:
            problems.setdefault(row, []).append(text)
    for row, text in frame_disagreements(coerced, columns, skip=refused).items():
        problems.setdefault(row, []).append(text)
    if READ_ERROR_COLUMN in raw.columns:
        unreadable = raw[READ_ERROR_COLUMN].notna().to_numpy()
        for row in map(int, np.flatnonzero(unreadable)):
            problems.setdefault(row, []).insert(0, str(raw[READ_ERROR_COLUMN].iat[row]))

    bad_rows = np.zeros(len(raw), dtype=bool)
    bad_rows[list(problems)] = True
    reasons = pd.Series(
        ["; ".join(problems[i]) for i in sorted(problems)], index=sorted(problems), dtype="string"
    )
    counts = Counter(_reason_kind(text) for texts in problems.values() for text in texts)
    valid = _with_carried(coerced.loc[~bad_rows], raw.loc[~bad_rows], carried)
    return ValidationOutcome(
        valid=valid.reset_index(drop=True),
        quarantined=_quarantine(raw.loc[bad_rows], reasons),
        reason_counts=dict(counts.most_common()),
        ignored_columns=ignored,
    )


def _pandera_failures(
    coerced: pd.DataFrame,
    columns: Mapping[str, ColumnSpec],
    primary_key: Sequence[str],
    name: str,
) -> list[tuple[int, str, str]]:
    import pandera.errors

    schema = to_pandera_schema(columns, primary_key, name)
    try:
        schema.validate(coerced, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    row_level = cases[cases["index"].notna()]
    if len(row_level) < len(cases):
        table_level = cases[cases["index"].isna()][["column", "check"]].to_dict("records")
        raise ValueError(f"{name}: schema failures not tied to rows: {table_level}")
    failures: dict[tuple[int, str], str] = {}
    key = ", ".join(primary_key)
    for case in row_level.itertuples(index=False):
        column = str(case.column)
        check = str(case.check)
        words = _CHECK_WORDS.get(check)
        if words == "duplicates an earlier row":
            column = key
            text = f"({key}) {words}"
        elif words:
            text = f"{column} {words}"
        else:
            value = case.failure_case
            if isinstance(value, np.generic):
                value = value.item()
            text = f"{column}: {value!r} fails {check}"
        failures[(int(case.index), text)] = column
    return [(row, column, text) for (row, text), column in failures.items()]


def _reason_kind(text: str) -> str:
    """Group per-row reasons into kinds for counting, e.g. 'distance: fails greater_than...'."""
    if ": " in text and " fails " in text:
        column, rest = text.split(": ", 1)
        return f"{column} fails {rest.split(' fails ', 1)[1]}"
    if kind := disagreement_kind(text):
        return kind
    if " is not a valid " in text:
        column = text.split(": ", 1)[0]
        return f"{column} has values of the wrong type"
    return text


def _with_carried(valid: pd.DataFrame, raw: pd.DataFrame, carried: Sequence[str]) -> pd.DataFrame:
    out = valid.copy()
    for column in carried:
        out[column] = pd.array(raw[column].to_numpy(), dtype="string")
    return out


def mark_undecodable(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells read with `surrogateescape` that held bytes which are not UTF-8: written out
    with the bytes escaped (`N\\xe9`), and their rows marked in READ_ERROR_COLUMN so that
    validation quarantines them and only them, naming the column."""
    header = pd.Series([str(c) for c in frame.columns], dtype="string")
    if header.str.contains(_UNDECODABLE, regex=True).any():
        raise ValueError("its header is not UTF-8 text (not a CSV file, or another encoding)")
    texts = [c for c in frame.columns if frame[c].dtype == object]
    reasons = pd.Series(pd.NA, index=frame.index, dtype="string")
    for column in texts:
        values = frame[column].astype("string")
        bad = values.str.contains(_UNDECODABLE, regex=True, na=False)
        if not bad.any():
            continue
        escaped = values[bad].map(_escaped)
        frame.loc[bad, column] = escaped
        note = f"{column}: " + escaped.map(repr) + " is not UTF-8 text"
        earlier = reasons[bad]
        reasons[bad] = note.where(earlier.isna(), earlier + "; " + note)
    if reasons.notna().any():
        frame[READ_ERROR_COLUMN] = reasons
    return frame


def _escaped(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _quarantine(rows: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """Rows as received, stored as text, with why they were refused."""
    text = rows.astype("string") if len(rows.columns) else rows.copy()
    text[REASON_COLUMN] = pd.array(reasons.reindex(rows.index).to_numpy(), dtype="string")
    return text.reset_index(drop=True)

"""Arms of a live experiment: which entity the challenger answers, and how requests and
answers split and merge by arm. Pure functions: the service and the tests share them.

An entity's arm is a hash of its key values and the experiment's salt, never Python's
`hash()` (salted per process): every worker and replica, and every restart, gives an
entity the same arm for as long as the experiment runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

CHAMPION_ARM = "champion"
CHALLENGER_ARM = "challenger"
SHADOW_ARM = "shadow"
_UNIT = 2.0**64


def canonical(value: Any) -> str:
    """A key value as text that does not depend on how the request spelt it: an aware
    datetime in UTC (the same instant with another offset is the same entity), a naive
    one as given, numbers by `repr` (so 1 and 1.0 stay apart, as their types do)."""
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
            return value.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return repr(value)


def bucket(values: Sequence[Any], salt: str) -> float:
    """The entity's place in [0, 1): the first 8 bytes of a SHA-256 of its key values."""
    text = "\x1f".join([salt, *(canonical(v) for v in values)])
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / _UNIT


def challenger_rows(
    rows: Sequence[Mapping[str, Any]], key: Sequence[str], share: float, salt: str
) -> list[bool]:
    """Per row, whether the challenger answers it: its entity's bucket is below `share`."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1 (exclusive), not {share}")
    return [bucket([row.get(c) for c in key], salt) < share for row in rows]


def challenger_columns(
    columns: Mapping[str, Sequence[Any] | None],
    rows: int,
    key: Sequence[str],
    share: float,
    salt: str,
) -> list[bool]:
    """`challenger_rows` for a request sent as columns (an omitted column is null)."""
    given = [columns.get(c) for c in key]
    return challenger_rows(
        [
            {c: None if v is None else v[i] for c, v in zip(key, given, strict=True)}
            for i in range(rows)
        ],
        key,
        share,
        salt,
    )


def positions(chosen: Sequence[bool], arm: bool) -> list[int]:
    """The rows (their positions in the request) whose choice is `arm`."""
    return [i for i, c in enumerate(chosen) if c is arm]


def interleave(
    chosen: Sequence[bool], champion: Sequence[Any], challenger: Sequence[Any]
) -> list[Any]:
    """The answers of both arms back in the request's order."""
    if len(champion) + len(challenger) != len(chosen):
        raise ValueError(f"{len(champion)} + {len(challenger)} answers for {len(chosen)} rows")
    ours, theirs = iter(champion), iter(challenger)
    return [next(theirs) if c else next(ours) for c in chosen]


def salt_of(pipeline: str, challenger_version: str) -> str:
    """The experiment's salt: a new challenger reshuffles the entities, the same
    experiment keeps them where they are."""
    return f"{pipeline}:{challenger_version}"

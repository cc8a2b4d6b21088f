"""A tamper-evident, hash-chained log of champion decisions (promote, keep, rollback).

One JSON Lines file per pipeline. Each entry carries `entry_hash`, the sha256 of its own
canonical JSON (sorted keys, no whitespace, the `entry_hash` field left out), and
`previous_hash`, the `entry_hash` of the entry before it (`GENESIS_HASH` for entry 0).
`verify` names the first entry that was changed, removed, reordered or garbled.

Limits, stated plainly:

- Removing the *last* entries cannot be detected from the file alone: a shorter chain is
  still a valid chain. Anchor the head elsewhere (the `entry_hash` returned by `append`,
  or `head_hash`), e.g. as a tag on the champion version in the model registry, and pass
  it to `verify(path, expected_head=...)`.
- The chain proves consistency, not authorship: anyone who can write the file can rewrite
  the whole chain from the tampered entry onwards. The anchored head catches that too,
  provided the anchor lives where that writer cannot reach.
- `append` is atomic with respect to writers on the same host (`fcntl.flock`); it is not a
  lock for network file systems. It re-reads and re-verifies the whole file, which is fine
  for a log that grows by one line per decision.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

Action = Literal["promote", "keep", "rollback"]
ACTIONS: frozenset[str] = frozenset(get_args(Action))
GENESIS_HASH = "0" * 64

_FIELD_TYPES: dict[str, type] = {
    "index": int,
    "time": str,
    "pipeline": str,
    "action": str,
    "record": dict,
    "previous_hash": str,
    "entry_hash": str,
}


class DecisionLogError(Exception):
    """The decision log cannot be read, or is broken and must not be extended."""


@dataclass(frozen=True)
class Entry:
    """One decision, as stored on one line of the log."""

    index: int
    time: str
    pipeline: str
    action: Action
    record: dict[str, Any]
    previous_hash: str
    entry_hash: str

    def to_dict(self) -> dict[str, Any]:
        """The entry as the JSON object stored in the log."""
        return asdict(self)

    def computed_hash(self) -> str:
        """sha256 of the canonical JSON of every field but `entry_hash`."""
        content = {key: value for key, value in self.to_dict().items() if key != "entry_hash"}
        return hashlib.sha256(_canonical(content).encode()).hexdigest()


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of `verify`; `entries` counts the entries that could be read."""

    ok: bool
    entries: int
    first_bad_index: int | None = None
    problem: str | None = None


def append(
    path: Path,
    pipeline: str,
    action: Action,
    record: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> Entry:
    """Append one decision and return it; refuses to extend a log that fails verification.

    `record` must be JSON-able; it is stored as it reads back from JSON, so the returned
    entry equals what `read` returns later. `now` must be timezone-aware (default: now).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    if not isinstance(record, Mapping):
        raise TypeError(f"record must be a mapping, got {type(record).__name__}")
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stored_record = json.loads(json.dumps(dict(record), allow_nan=False))
    time = (now or datetime.now(UTC)).astimezone(UTC).isoformat()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            data = handle.read()
            entries, result = _inspect(data)
            if not result.ok:
                raise DecisionLogError(f"refusing to append to {path}: {result.problem}")
            last = entries[-1] if entries else None
            if last is not None and last.pipeline != pipeline:
                raise DecisionLogError(
                    f"refusing to append a {pipeline!r} decision to {path}, "
                    f"the log of pipeline {last.pipeline!r}"
                )
            unsealed = Entry(
                index=last.index + 1 if last else 0,
                time=time,
                pipeline=pipeline,
                action=action,
                record=stored_record,
                previous_hash=last.entry_hash if last else GENESIS_HASH,
                entry_hash="",
            )
            entry = replace(unsealed, entry_hash=unsealed.computed_hash())
            # A line left without its newline (a hand edit) would otherwise swallow this one.
            separator = b"\n" if data and not data.endswith(b"\n") else b""
            line = json.dumps(entry.to_dict(), ensure_ascii=False, allow_nan=False)
            handle.write(separator + line.encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    if entry.index == 0:
        _fsync_directory(path.parent)
    return entry


def read(path: Path) -> list[Entry]:
    """Every entry in file order (no chain check); an absent file reads as empty.

    Raises `DecisionLogError` naming the line that is not valid JSON or not an entry.
    """
    return [entry for _, entry in _parse(_read_shared(Path(path)))]


def verify(path: Path, expected_head: str | None = None) -> VerificationResult:
    """Check the hash chain; with `expected_head`, also that the log ends at that hash.

    An empty or absent log verifies ok with 0 entries (unless a head is expected).
    """
    return _inspect(_read_shared(Path(path)), expected_head)[1]


def head_hash(path: Path) -> str | None:
    """`entry_hash` of the last entry of a log that verifies, to anchor elsewhere.

    None for an empty or absent log; raises `DecisionLogError` if the log is broken, so a
    tampered head never gets anchored.
    """
    entries, result = _inspect(_read_shared(Path(path)))
    if not result.ok:
        raise DecisionLogError(f"{path} does not verify: {result.problem}")
    return entries[-1].entry_hash if entries else None


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _read_shared(path: Path) -> bytes:
    # The shared lock keeps readers from seeing a line that a writer is half-way through.
    try:
        with path.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                return handle.read()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except FileNotFoundError:
        return b""


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _parse(data: bytes) -> Iterator[tuple[int, Entry]]:
    """(line number, entry) for each non-blank line; raises at the first unreadable one."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            fields = json.loads(raw.decode(), parse_constant=_reject_constant)
        except ValueError as error:
            raise DecisionLogError(
                f"line {number} is not valid JSON (truncated or garbled): {error}"
            ) from None
        yield number, _entry(number, fields)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _entry(number: int, fields: Any) -> Entry:
    if not isinstance(fields, dict):
        raise DecisionLogError(f"line {number} is not a decision-log entry: not a JSON object")
    # Unknown fields are refused: they are outside the hash, so they could be added unseen.
    problems = [f"missing {name!r}" for name in _FIELD_TYPES if name not in fields]
    problems += [f"unexpected {name!r}" for name in fields if name not in _FIELD_TYPES]
    problems += [
        f"{name!r} is not a {kind.__name__}"
        for name, kind in _FIELD_TYPES.items()
        if name in fields and type(fields[name]) is not kind
    ]
    if isinstance(fields.get("action"), str) and fields["action"] not in ACTIONS:
        problems.append(f"unknown action {fields['action']!r}")
    if problems:
        raise DecisionLogError(f"line {number} is not a decision-log entry: {', '.join(problems)}")
    return Entry(**fields)


def _inspect(
    data: bytes, expected_head: str | None = None
) -> tuple[list[Entry], VerificationResult]:
    lines: list[tuple[int, Entry]] = []
    unreadable: DecisionLogError | None = None
    try:
        lines.extend(_parse(data))
    except DecisionLogError as error:
        unreadable = error
    entries = [entry for _, entry in lines]
    problem = _chain_problem(lines)
    if problem is None and unreadable is not None:
        problem = len(entries), str(unreadable)
    if problem is None and expected_head is not None:
        problem = _head_problem(entries, expected_head)
    if problem is not None:
        return entries, VerificationResult(False, len(entries), *problem)
    return entries, VerificationResult(True, len(entries))


def _chain_problem(lines: list[tuple[int, Entry]]) -> tuple[int, str] | None:
    """(position, message) of the first entry that breaks the chain, or None."""
    previous_hash = GENESIS_HASH
    for position, (number, entry) in enumerate(lines):
        where = f"line {number}"
        if entry.computed_hash() != entry.entry_hash:
            return position, (
                f"entry {position} was changed: its content does not match its hash ({where})"
            )
        if entry.index != position:
            later = [other.index for _, other in lines[position + 1 :]]
            if entry.index < position or position in later:
                return position, (
                    f"entries were reordered or duplicated: {where} holds entry {entry.index} "
                    f"where entry {position} was expected"
                )
            span = f"goes from index {position - 1} to" if position else "starts at index"
            return position, f"entry {position} is missing: the chain {span} {entry.index}"
        if entry.previous_hash != previous_hash:
            if position == 0:
                return 0, "entry 0 does not start the chain: its previous_hash is not genesis"
            return position, (
                f"entry {position} does not follow entry {position - 1}: its previous_hash "
                f"does not match the hash of entry {position - 1} ({where}); entry "
                f"{position - 1} was replaced or re-hashed, or entries were removed and renumbered"
            )
        previous_hash = entry.entry_hash
    return None


def _head_problem(entries: list[Entry], expected_head: str) -> tuple[int, str] | None:
    if entries and entries[-1].entry_hash == expected_head:
        return None
    ends = f"the log ends at entry {entries[-1].index}" if entries else "the log is empty"
    anchored = next((entry.index for entry in entries if entry.entry_hash == expected_head), None)
    if anchored is not None:
        return anchored + 1, (
            f"{ends} but the anchored head is entry {anchored}: "
            "entries were appended after the head was anchored"
        )
    return len(entries), (
        f"{ends} but the anchored head is {expected_head}, which is not in the log: "
        "entries were removed from its end, or the log was replaced"
    )

"""Tier 1: the hash-chained decision log: round trip, tamper detection, concurrent appends."""

import hashlib
import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ml_assets.lib.decision_log import (
    GENESIS_HASH,
    Action,
    DecisionLogError,
    append,
    head_hash,
    read,
    verify,
)

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def sha256_of_canonical(fields: dict[str, Any]) -> str:
    """The documented hash, re-implemented here so the test does not trust the module."""
    content = {key: value for key, value in fields.items() if key != "entry_hash"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def write_log(path: Path, count: int) -> list[str]:
    """A valid log of `count` decisions; returns its lines."""
    for n in range(count):
        action: Action = "promote" if n % 2 == 0 else "keep"
        record = {"champion": f"v{n}", "auc": 0.7 + n / 100, "reason": f"décision {n}"}
        append(path, "flights", action, record, now=START + timedelta(days=n))
    return lines_of(path)


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def edit_line(line: str, **changes: Any) -> str:
    """The line re-serialised with some fields changed (entry_hash left as it was)."""
    return json.dumps({**json.loads(line), **changes}, ensure_ascii=False)


def test_append_and_read_round_trip_with_chained_hashes(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "flights.jsonl"
    paris = timezone(timedelta(hours=2))
    appended = [
        append(path, "flights", "promote", {"version": "3", "auc": 0.81}, now=START),
        append(path, "flights", "keep", {"version": "3", "challenger": "4"}, now=START),
        append(
            path,
            "flights",
            "rollback",
            {"to": "2", "reason": "latence"},
            now=START.astimezone(paris),
        ),
    ]

    entries = read(path)

    assert entries == appended
    assert [entry.index for entry in entries] == [0, 1, 2]
    assert [entry.action for entry in entries] == ["promote", "keep", "rollback"]
    assert entries[0].previous_hash == GENESIS_HASH
    assert entries[1].previous_hash == entries[0].entry_hash
    assert entries[2].previous_hash == entries[1].entry_hash
    assert entries[2].time == "2024-03-01T12:00:00+00:00"
    assert entries[2].record == {"to": "2", "reason": "latence"}
    for line, entry in zip(lines_of(path), entries, strict=True):
        stored = json.loads(line)
        assert stored == entry.to_dict()
        assert stored["entry_hash"] == sha256_of_canonical(stored)
    assert head_hash(path) == appended[-1].entry_hash


def test_record_is_stored_as_it_reads_back_from_json(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"

    entry = append(path, "flights", "keep", {"scores": (0.5, 0.6), "by_fold": {2: "a", 10: "b"}})

    assert entry.record == {"scores": [0.5, 0.6], "by_fold": {"2": "a", "10": "b"}}
    assert read(path) == [entry]
    assert verify(path).ok


@pytest.mark.parametrize("exists", [False, True])
def test_absent_or_empty_log_verifies_with_no_entries(tmp_path: Path, exists: bool) -> None:
    path = tmp_path / "flights.jsonl"
    if exists:
        path.write_text("")

    assert verify(path) == verify(path, expected_head=None)
    assert verify(path).ok and verify(path).entries == 0
    assert read(path) == []
    assert head_hash(path) is None


def test_valid_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    write_log(path, 5)

    result = verify(path, expected_head=head_hash(path))

    assert result.ok and result.entries == 5
    assert result.first_bad_index is None and result.problem is None


@pytest.mark.parametrize(
    ("k", "changes"),
    [
        (0, {"action": "keep"}),
        (2, {"record": {"champion": "v99", "auc": 0.99, "reason": "forged"}}),
        (3, {"time": "2023-01-01T00:00:00+00:00"}),
        (4, {"pipeline": "other"}),
        (1, {"index": 7}),
    ],
)
def test_changed_entry_is_named(tmp_path: Path, k: int, changes: dict[str, Any]) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    lines[k] = edit_line(lines[k], **changes)
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == k
    assert f"entry {k} was changed" in str(result.problem)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (0, "entry 0 is missing: the chain starts at index 1"),
        (2, "entry 2 is missing: the chain goes from index 1 to 3"),
        (3, "entry 3 is missing: the chain goes from index 2 to 4"),
    ],
)
def test_deleted_entry_is_named(tmp_path: Path, k: int, expected: str) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    del lines[k]
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == k
    assert result.problem == expected


def test_deleted_and_renumbered_entries_break_the_previous_hash(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    del lines[2]
    for position in (2, 3):
        renumbered = {**json.loads(lines[position]), "index": position}
        lines[position] = json.dumps({**renumbered, "entry_hash": sha256_of_canonical(renumbered)})
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == 2
    assert "entry 2 does not follow entry 1" in str(result.problem)


@pytest.mark.parametrize("k", [0, 2, 3])
def test_swapped_entries_are_detected(tmp_path: Path, k: int) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    lines[k], lines[k + 1] = lines[k + 1], lines[k]
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == k
    assert "reordered" in str(result.problem)
    assert f"holds entry {k + 1} where entry {k} was expected" in str(result.problem)


def test_truncated_last_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    path.write_text("\n".join(lines[:4]) + "\n" + lines[4][: len(lines[4]) // 2])

    result = verify(path)

    assert not result.ok and result.entries == 4 and result.first_bad_index == 4
    assert str(result.problem).startswith("line 5 is not valid JSON")
    with pytest.raises(DecisionLogError, match="line 5 is not valid JSON"):
        read(path)


@pytest.mark.parametrize(
    "garbage",
    ["not json at all", '{"index": 2}', "[1, 2]", '{"index": NaN}'],
)
def test_garbled_middle_line_is_named(tmp_path: Path, garbage: str) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    lines[2] = garbage
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == 2
    assert str(result.problem).startswith("line 3 is not")
    with pytest.raises(DecisionLogError, match="line 3 is not"):
        read(path)


def test_added_field_outside_the_hash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 3)
    lines[1] = edit_line(lines[1], approved_by="mallory")
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == 1
    assert "line 2 is not a decision-log entry: unexpected 'approved_by'" in str(result.problem)


@pytest.mark.parametrize("k", [0, 2, 3])
def test_rehashed_entry_is_caught_by_the_next_previous_hash(tmp_path: Path, k: int) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    forged = {**json.loads(lines[k]), "record": {"champion": "v99", "auc": 0.99}}
    lines[k] = json.dumps({**forged, "entry_hash": sha256_of_canonical(forged)})
    write_lines(path, lines)

    result = verify(path)

    assert not result.ok and result.first_bad_index == k + 1
    assert f"entry {k + 1} does not follow entry {k}" in str(result.problem)


def test_rewritten_chain_tail_is_caught_only_by_the_anchored_head(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    anchored = head_hash(path)
    previous = json.loads(lines[2])["entry_hash"]
    for position in (3, 4):
        forged = {**json.loads(lines[position]), "previous_hash": previous, "action": "keep"}
        previous = sha256_of_canonical(forged)
        lines[position] = json.dumps({**forged, "entry_hash": previous})
    write_lines(path, lines)

    assert verify(path).ok
    result = verify(path, expected_head=anchored)
    assert not result.ok and result.first_bad_index == 5
    assert f"the log ends at entry 4 but the anchored head is {anchored}" in str(result.problem)


def test_removed_last_entry_is_detected_only_with_the_anchored_head(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 5)
    anchored = head_hash(path)
    write_lines(path, lines[:4])

    assert verify(path).ok and verify(path).entries == 4
    result = verify(path, expected_head=anchored)
    assert not result.ok and result.entries == 4 and result.first_bad_index == 4
    assert str(result.problem).startswith(
        f"the log ends at entry 3 but the anchored head is {anchored}, which is not in the log"
    )


def test_stale_anchor_reports_the_entries_appended_after_it(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    write_log(path, 2)
    anchored = head_hash(path)
    append(path, "flights", "keep", {"version": "2"})

    result = verify(path, expected_head=anchored)

    assert not result.ok and result.first_bad_index == 2
    assert "the log ends at entry 2 but the anchored head is entry 1" in str(result.problem)


def test_empty_log_with_an_anchored_head_fails(tmp_path: Path) -> None:
    result = verify(tmp_path / "flights.jsonl", expected_head="ab" * 32)

    assert not result.ok and result.first_bad_index == 0
    assert str(result.problem).startswith("the log is empty but the anchored head is")


@pytest.mark.parametrize("tamper", ["change", "delete", "truncate"])
def test_append_to_a_tampered_log_is_refused(tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 4)
    if tamper == "change":
        lines[1] = edit_line(lines[1], action="rollback")
    elif tamper == "delete":
        del lines[1]
    else:
        lines[3] = lines[3][:10]
    write_lines(path, lines)
    before = path.read_bytes()

    with pytest.raises(DecisionLogError, match="refusing to append") as raised:
        append(path, "flights", "promote", {"version": "9"})

    assert str(verify(path).problem) in str(raised.value)
    assert path.read_bytes() == before
    with pytest.raises(DecisionLogError, match="does not verify"):
        head_hash(path)


def test_append_refuses_another_pipelines_log(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    write_log(path, 1)

    with pytest.raises(DecisionLogError, match="the log of pipeline 'flights'"):
        append(path, "weather", "promote", {})

    assert len(read(path)) == 1


def test_append_continues_after_a_line_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    lines = write_log(path, 2)
    path.write_text("\n".join(lines), encoding="utf-8")

    append(path, "flights", "keep", {})

    assert verify(path).ok and verify(path).entries == 3


@pytest.mark.parametrize(
    ("action", "record", "now", "error"),
    [
        ("demote", {}, None, ValueError),
        ("keep", {"auc": float("nan")}, None, ValueError),
        ("keep", {"when": datetime(2024, 1, 1, tzinfo=UTC)}, None, TypeError),
        ("keep", ["not", "a", "dict"], None, TypeError),
        ("keep", {}, datetime(2024, 1, 1), ValueError),
    ],
)
def test_bad_arguments_are_refused_before_writing(
    tmp_path: Path, action: Any, record: Any, now: datetime | None, error: type[Exception]
) -> None:
    path = tmp_path / "flights.jsonl"

    with pytest.raises(error):
        append(path, "flights", action, record, now=now)

    assert not path.exists()


def assert_complete_chain(path: Path, workers: int, per_worker: int) -> None:
    """Valid chain, consecutive indices, and every (worker, n) appended exactly once."""
    result = verify(path)
    assert result.ok, result.problem
    entries = read(path)
    assert [entry.index for entry in entries] == list(range(workers * per_worker))
    written = sorted((entry.record["worker"], entry.record["n"]) for entry in entries)
    assert written == [(w, n) for w in range(workers) for n in range(per_worker)]


def test_concurrent_appends_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    workers, per_worker = 8, 10
    start = threading.Barrier(workers)

    def work(worker: int) -> None:
        start.wait()
        for n in range(per_worker):
            append(path, "flights", "keep", {"worker": worker, "n": n})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert_complete_chain(path, workers, per_worker)


def append_from_process(path: str, worker: int, count: int, start: Any) -> None:
    """Process target (module level so that spawn can import it)."""
    start.wait()
    for n in range(count):
        append(Path(path), "flights", "keep", {"worker": worker, "n": n})


@pytest.mark.slow
def test_concurrent_appends_from_processes(tmp_path: Path) -> None:
    path = tmp_path / "flights.jsonl"
    workers, per_worker = 2, 20
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(workers)
    processes = [
        context.Process(target=append_from_process, args=(str(path), w, per_worker, start))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [process.exitcode for process in processes] == [0] * workers
    assert_complete_chain(path, workers, per_worker)

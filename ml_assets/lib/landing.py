"""What arrived in a landing folder since last time: daily files (or a static table's
scoring batches), by name and content hash."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|parquet|jsonl)$")
# A scoring batch of a static table: any name of letters, digits, `_`, `-` and `.`
# (hidden and temporary files start with a dot and never match).
BATCH_FILE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\.(csv|parquet|jsonl)$")


@dataclass(frozen=True)
class Arrival:
    partition: str  # the file's name without its extension: a day, or a batch name
    file: str
    sha256: str

    @property
    def run_key(self) -> str:
        """Idempotent: the same file with the same content never starts a second run."""
        return f"{self.file}:{self.sha256[:16]}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(folder: Path, fmt: str, pattern: re.Pattern[str] = DAY_FILE) -> dict[str, str]:
    """File name -> sha256 of each `<YYYY-MM-DD>.<fmt>` file, or of each file `pattern`
    matches (temporary files are skipped)."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name)
        if match and match.group(2) == fmt and path.is_file():
            found[path.name] = file_sha256(path)
    return found


def arrivals(current: dict[str, str], seen: dict[str, str]) -> list[Arrival]:
    """New files, and files whose content changed since they were seen, oldest day first."""
    changed = [name for name, sha in current.items() if seen.get(name) != sha]
    return [
        Arrival(partition=name.rsplit(".", 1)[0], file=name, sha256=current[name])
        for name in changed
    ]

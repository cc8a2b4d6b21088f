"""The lock a champion decision runs under: one decision of a pipeline at a time.

On PostgreSQL (the production profile: MLflow's backend store is a database) it is an
advisory lock in that database, so processes on any host, e.g. pods, queue for it, and the
server releases it if a process dies holding it. Otherwise (the local profile) it is a
file lock, which serialises processes on this host only.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def promotion_lock(database_url: str, lock_dir: Path, pipeline: str) -> Iterator[None]:
    if database_url.startswith("postgresql"):
        with _advisory_lock(database_url, f"mlap-promotion:{pipeline}"):
            yield
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{pipeline}.promotion.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(database_url: str, name: str) -> Iterator[None]:
    """A session-level advisory lock on a 64-bit key derived from `name`."""
    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    engine = sqlalchemy.create_engine(database_url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()

"""The local instance's event log: Dagster's SQLite event log with open connections.

Dagster's `SqliteEventLogStorage` creates an SQLAlchemy engine, connects, and disposes of
both for every read and write: twice for each asset event (the run's database, then the
index's). On these machines that cost ~50 ms an event under load and was most of a
92-day batch-scoring run (issue 16's benchmark). This subclass keeps one open connection
per database (the last few used, so a webserver reading many runs holds a bounded number
of files), and its commits do not wait for the disk (the write-ahead log Dagster already
uses, with `synchronous=NORMAL`: a killed process loses nothing, a power cut at most the
last commits). Otherwise it is Dagster's: same files, same schema, same locking, so an
instance can switch between the two.

A cached connection is dropped when its file is replaced or removed (another process
wiped the run) and in a forked child, which must not share its parent's connection.
`configs/dagster/local.yaml` selects it; the production profile's Postgres storage keeps
its own connection pool.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as db
from dagster import Field, StringSource
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

from ml_assets.dagster_private import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    ConfigurableClassData,
    SqliteEventLogStorage,
)

OPEN_DATABASES = 8  # run databases kept open besides the one in use


@dataclass(frozen=True)
class _OpenDatabase:
    engine: Engine
    inode: int
    pid: int


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that reuses one connection per database file."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._open: OrderedDict[str, _OpenDatabase] = OrderedDict()
        if base_dir is None:
            # Dagster's default folder, the instance's own history/runs: known only when the
            # instance registers itself, which it does before anything else is asked.
            self._pending_inst_data = inst_data
            return
        super().__init__(base_dir, inst_data)

    def register_instance(self, instance: Any) -> None:
        if not hasattr(self, "_base_dir"):
            runs = Path(instance.root_directory) / "history" / "runs"
            SqliteEventLogStorage.__init__(self, str(runs), self._pending_inst_data)
        super().register_instance(instance)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        url = self.conn_string_for_shard(shard)
        if shard not in self._initialized_dbs:
            # Dagster's own first connection: creates the file and its tables if missing.
            first = db.create_engine(
                url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            self._initdb(first)
            first.dispose()
            self._initialized_dbs.add(shard)
        inode = _inode(self.path_for_shard(shard))
        cached = self._open.get(shard)
        if cached is not None and (cached.inode, cached.pid) == (inode, os.getpid()):
            self._open.move_to_end(shard)
            return cached.engine
        if cached is not None:
            self._close(shard)
        engine = db.create_engine(
            url,
            poolclass=StaticPool,
            # One connection, used under the storage's lock by whichever thread holds it.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        db.event.listen(engine, "connect", _write_ahead_without_sync_per_commit)
        self._open[shard] = _OpenDatabase(engine, inode, os.getpid())
        while len(self._open) > OPEN_DATABASES + 1:
            self._close(next(iter(self._open)))
        return engine

    def _close(self, shard: str) -> None:
        opened = self._open.pop(shard)
        if opened.pid == os.getpid():
            opened.engine.dispose()

    def wipe(self) -> None:
        with self._db_lock:
            for shard in list(self._open):
                self._close(shard)
        super().wipe()

    def dispose(self) -> None:
        with self._db_lock:
            for shard in list(self._open):
                self._close(shard)
        super().dispose()


def _write_ahead_without_sync_per_commit(connection: Any, _record: Any) -> None:
    """SQLite's recommended setting for a write-ahead log: a commit no longer waits for the
    disk; the log is synced at checkpoints. A crashed process loses nothing; a power cut
    can lose the last commits, never corrupt the file."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _inode(path: str) -> int:
    try:
        return Path(path).stat().st_ino
    except FileNotFoundError:
        return -1

"""A real PostgreSQL server for the production-profile tests, started and stopped by them.

Debian's `postgresql` package (installed by `make postgres`): `initdb` into a temporary
folder, `pg_ctl start` on 127.0.0.1 with a free port, trust authentication (the server
only listens on the loopback and lives as long as the test module). PostgreSQL refuses to
run as root, so as root it runs as the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import free_port

DRIVER = "postgresql+psycopg2"  # SQLAlchemy 2.1 would pick psycopg 3 for postgresql://


def binaries() -> Path | None:
    """The newest installed server's bin folder, or None when PostgreSQL is not here."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server with its data in a fresh temporary folder (directly under the
    system's temp folder: the server user must reach it); yields the base URL."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: run `make postgres`")
    folder = Path(tempfile.mkdtemp(prefix="mlap-postgres-"))
    data = folder / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")

    def run(program: str, *args: str) -> None:
        command = _as_server_user([str(bin_dir / program), *args])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}")

    run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust")
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c max_connections=200"
    run("pg_ctl", "-D", str(data), "-w", "-l", str(data / "server.log"), "-o", options, "start")
    try:
        yield f"{DRIVER}://postgres@127.0.0.1:{port}"
    finally:
        try:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{base_url}/{name}"

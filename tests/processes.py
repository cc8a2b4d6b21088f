"""Server processes for tests: a free port on 127.0.0.1, a process group that is always
stopped, and waiting for an HTTP probe."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` in a process group of its own, output to `log`; on exit SIGTERM to the group,
    SIGKILL to what is left 30 s later."""
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_ready(
    url: str,
    log: Path,
    deadline: float,
    path: str = "/readyz",
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Until `url + path` answers 200 (before the monotonic `deadline`), failing early with
    the log's tail when `process` has exited."""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url}{path} never answered 200:\n{log.read_text()[-3000:]}")

"""Server processes for tests: a free port on 127.0.0.1, a process group that is always
stopped, and waiting for an HTTP probe."""

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default): a port
# the kernel hands out (bind to 0) can be taken, between the probe and the server's own
# bind, as the source port of any outgoing connection; the tests' many HTTP clients made
# that happen in CI ("Address already in use"). A port from here is only ever taken by
# another test server that picked the same one at random.
_TEST_PORTS = range(20000, 32000)
_RANDOM = random.SystemRandom()  # not the global generator, which tests may seed alike


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, outside the ephemeral range."""
    for port in _RANDOM.sample(_TEST_PORTS, 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_TEST_PORTS}")


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

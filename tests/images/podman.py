"""podman for the image tier: builds with the base and CA `make test-images` gives, and
containers that are always removed, whatever the test does."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = PROJECT_ROOT / "deploy" / "images" / "containers.conf"
# Set by `make test-images`; the defaults are what it builds.
BASE_IMAGE = os.environ.get("MLAP_BASE_IMAGE", "localhost/mlap-base:bookworm")
PLATFORM_IMAGE = os.environ.get("MLAP_PLATFORM_IMAGE", "localhost/mlap-platform:test")
EXTRA_CA = os.environ.get("MLAP_EXTRA_CA", "/etc/ssl/certs/ca-certificates.crt")
BUILD_TIMEOUT_SECONDS = 1800

DAGSTER = str(Path(sys.executable).parent / "dagster")


def environment() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build(context: Path, tag: str, log: Path) -> float:
    """Build `context` (its Dockerfile) as `tag` on the tier's base; the build's seconds."""
    secret = ["--secret", f"id=extra_ca,src={EXTRA_CA}"] if Path(EXTRA_CA).is_file() else []
    argv = ["podman", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [*argv, *secret, "-t", tag, str(context)],
            env=environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"podman build of {tag} failed:\n{log.read_text()[-4000:]}")
    return time.monotonic() - started


def image_size(tag: str) -> int:
    done = podman("image", "inspect", "--format", "{{.Size}}", tag)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


@contextmanager
def container(
    image: str, args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`podman run` of `image` on the host's network (its servers bind 127.0.0.1) with the
    variables `env`, output to `log`; removed on exit (`podman rm -f`), so no test leaves a
    container behind."""
    name = f"mlap-test-{uuid.uuid4().hex[:12]}"
    variables = [f"--env={key}={value}" for key, value in (env or {}).items()]
    argv = ["podman", "run", "--rm", "--name", name, "--network", "host", *variables, image]
    argv += args
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, env=environment(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        podman("rm", "--force", "--time", "10", name, timeout=60)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def containers_named(prefix: str) -> list[str]:
    done = podman("ps", "--all", "--format", "{{.Names}}")
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.split() if name.startswith(prefix)]


def wait_serving(port: int, log: Path, process: subprocess.Popen[bytes], seconds: float) -> None:
    """Until the code server in a container answers a gRPC health check on `port`; fails
    at once if the container exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"code server exited ({process.returncode}):\n{log.read_text()}")
        health = subprocess.run(
            [
                str(Path(sys.executable).parent / "dagster"),
                "api",
                "grpc-health-check",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if health.returncode == 0:
            return
        time.sleep(1)
    raise TimeoutError(f"code server never served:\n{log.read_text()[-3000:]}")

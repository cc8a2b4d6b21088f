"""The three HTTP peers: how each is started, probed, asked and stopped.

Each server runs in its own process group on 127.0.0.1 with one worker, and is stopped
(SIGTERM, then SIGKILL) when its block ends, whatever happened inside.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.serving.state import Champion, platform_env
from bentos.image import SERVING_PACKAGES
from ml_assets.environment import PROJECT_ROOT

BIN = PROJECT_ROOT / ".venv" / "bin"
MLFLOW_MODEL_FILE = Path(__file__).with_name("mlflow_model.py")
START_TIMEOUT_S = 180


@dataclass(frozen=True)
class Peer:
    name: str
    command: Callable[[int], list[str]]
    env: dict[str, str]
    ready_path: str
    predict_path: str
    body_key: str
    unwrap: Callable[[Any], list[dict[str, Any]]]
    # A second route taking the same rows as columns, measured on batches only.
    columnar_path: str | None = None

    def body(self, records: list[dict[str, Any]]) -> bytes:
        return json.dumps({self.body_key: records}).encode()

    @property
    def columnar_name(self) -> str:
        return f"{self.name} columnar"


def columnar_body(records: list[dict[str, Any]]) -> bytes:
    """The same records as `{"columns": {field: [one value per record]}}`."""
    names = list(records[0]) if records else []
    return json.dumps({"columns": {n: [r[n] for r in records] for n in names}}).encode()


def unwrap_columns(payload: Any) -> list[dict[str, Any]]:
    """A columnar answer as one dict per row, the shape the other routes answer in."""
    version = payload["model_version"]
    return [
        {"probability": p, "label": label, "model_version": version}
        for p, label in zip(payload["probability"], payload["label"], strict=True)
    ]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and all its child processes so far."""
        total = 0.0
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
        return total


def bentoml_peer(champion: Champion, env: dict[str, str] | None = None) -> Peer:
    """`bentoml serve` of the champion's bento, without an API key."""
    return Peer(
        name="BentoML",
        command=lambda port: [
            *[str(BIN / "bentoml"), "serve", champion.bento_tag],
            *["--host", "127.0.0.1", "--port", str(port)],
        ],
        env=env if env is not None else _server_env(champion),
        ready_path="/readyz",
        predict_path="/predict",
        body_key="records",
        unwrap=lambda payload: payload,
        columnar_path="/predict_columns",
    )


LOGGED = "BentoML + inference log"


def peers(champion: Champion) -> list[Peer]:
    env = _server_env(champion)
    mlflow_dir = mlflow_model(champion)

    logged = {**env, "MLAP_INFERENCE_LOG_URL": str(champion.state / "inference_log_lake")}
    return [
        bentoml_peer(champion, env),
        # The same server writing the inference log (bentos/inference_log.py) to a lake
        # folder of the benchmark's state, at the bundle's flush interval.
        replace(bentoml_peer(champion, logged), name=LOGGED, columnar_path=None),
        Peer(
            name="FastAPI",
            command=lambda port: [
                *[str(BIN / "uvicorn"), "benchmarks.serving.fastapi_app:app", "--workers", "1"],
                # uvicorn's defaults, access log included: BentoML and `mlflow models
                # serve` (uvicorn too) log every request by default as well.
                *["--host", "127.0.0.1", "--port", str(port)],
            ],
            env={**env, "MLAP_BENCH_BUNDLE": str(champion.bundle)},
            ready_path="/readyz",
            predict_path="/predict",
            body_key="records",
            unwrap=lambda payload: payload,
        ),
        Peer(
            name="MLflow",
            command=lambda port: [
                *[str(BIN / "mlflow"), "models", "serve", "-m", str(mlflow_dir)],
                *["--env-manager", "local", "--host", "127.0.0.1", "-p", str(port), "-w", "1"],
            ],
            env=env,
            ready_path="/ping",
            predict_path="/invocations",
            body_key="dataframe_records",
            unwrap=lambda payload: payload["predictions"],
        ),
    ]


def mlflow_model(champion: Champion) -> Path:
    """The MLflow pyfunc peer for this champion, saved once per bento version."""
    folder = champion.state / "mlflow_peer" / champion.bento_tag.replace(":", "-")
    saved_code = folder / MLFLOW_MODEL_FILE.name
    if saved_code.exists() and saved_code.read_bytes() == MLFLOW_MODEL_FILE.read_bytes():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    pins = [f"{n}=={importlib.metadata.version(n)}" for n in ("mlflow", *SERVING_PACKAGES)]
    mlflow.pyfunc.save_model(
        str(folder),
        python_model=str(MLFLOW_MODEL_FILE),
        artifacts={"bundle": str(champion.bundle)},
        pip_requirements=pins,
    )
    return folder


@contextlib.contextmanager
def serving(peer: Peer, log: Path) -> Iterator[Server]:
    """Start `peer`, wait until it is ready, yield it, always stop it."""
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            peer.command(port),
            env=peer.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_ROOT,
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server, peer.ready_path, log)
        yield server
    finally:
        _stop(process)


def _server_env(champion: Champion) -> dict[str, str]:
    env = platform_env(champion.state)
    env.pop("MLAP_API_KEY", None)
    env.pop("MLAP_INFERENCE_LOG_URL", None)  # only the logging peer logs
    # `mlflow models serve` starts `uvicorn` by name.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: Server, path: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early (log {log}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"not ready after {START_TIMEOUT_S} s (log {log})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever is left 30 s later."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)

"""The benchmark champion (benchmarks/serving/state.py) under a real `bentoml serve`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from benchmarks.serving.peers import BIN, Peer, Server, serving
from benchmarks.serving.state import Champion, platform_env, prepare


def bentoml_peer(champion: Champion) -> Peer:
    env = platform_env(champion.state)
    env.pop("MLAP_API_KEY", None)
    return Peer(
        name="BentoML",
        command=lambda port: [
            *[str(BIN / "bentoml"), "serve", champion.bento_tag],
            *["--host", "127.0.0.1", "--port", str(port)],
        ],
        env=env,
        ready_path="/readyz",
        predict_path="/predict",
        body_key="records",
        unwrap=lambda payload: payload,
    )


@contextlib.contextmanager
def served_server(state: Path) -> Iterator[tuple[Champion, Server]]:
    """The champion of `state` (made first if missing), served until the block ends."""
    champion = prepare(state)
    log = state / "reliability-serve.log"
    with serving(bentoml_peer(champion), log) as server:
        yield champion, server


@contextlib.contextmanager
def served_champion(state: Path) -> Iterator[str]:
    with served_server(state) as (_, server):
        yield server.url

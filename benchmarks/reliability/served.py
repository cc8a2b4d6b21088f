"""The benchmark champion (benchmarks/serving/state.py) under a real `bentoml serve`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from benchmarks.serving.peers import Server, bentoml_peer, serving
from benchmarks.serving.state import Champion, prepare


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

"""A small OpenAI-compatible chat completions server for the tests, on 127.0.0.1.

It stands in for an LLM service that cannot exist here, and answers deterministically from
the prompt it receives: the label given most often to the examples in the last user
message (ties: the one listed first, the most similar), or the first label of the label
list when the prompt has no example. Every request (headers and JSON body) is kept.

A test can make it an oracle (`answers`: text to classify -> the label to answer, used
when the prompt's text is one of them) and make it fail (`failure`): `drop` closes the
connection without answering, `stall` answers after `stall_seconds`, `prose` answers a
sentence that names no label, `status` answers HTTP 500. With `delay_seconds`, every
answer waits that long, and `most_at_once` tells how many requests overlapped at most.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class LlmServer:
    url: str
    api_key: str | None
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    stall_seconds: float = 3.0
    # Every answer waits this long (requests overlap while they wait); the most requests
    # being answered at once is kept.
    delay_seconds: float = 0.0
    most_at_once: int = 0
    at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def text_of(messages: list[dict[str, str]]) -> str:
    """The text to classify: what follows the last `Text: ` of the last user message."""
    user = [m["content"] for m in messages if m["role"] == "user"][-1]
    return user.rsplit("Text: ", 1)[-1].removesuffix("\nLabel:")


def answer_of(messages: list[dict[str, str]]) -> str:
    user = [m["content"] for m in messages if m["role"] == "user"][-1]
    *examples, _ = user.split("\n\nText: ")
    labels = re.findall(r"^Label: (.+)$", "\n\nText: ".join(examples), flags=re.MULTILINE)
    if labels:
        counts = Counter(labels)
        top = max(counts.values())
        return next(label for label in labels if counts[label] == top)
    system = " ".join(m["content"] for m in messages if m["role"] == "system")
    listed = system.rsplit(":", 1)[-1].strip().rstrip(".")
    return listed.split(", ")[0]


@contextmanager
def llm_server(api_key: str | None = "test-key") -> Iterator[LlmServer]:
    """The server, started on a free port (no key: any request is let in)."""
    state = LlmServer(url="", api_key=api_key)

    class Handler(BaseHTTPRequestHandler):
        counted = False

        def do_POST(self) -> None:
            with state.lock:
                state.at_once += 1
                state.most_at_once = max(state.most_at_once, state.at_once)
            self.counted = True
            try:
                self._answer()
            finally:
                self._leave()

        def _leave(self) -> None:
            """Stop counting this request: before its answer is written, since a client
            that has its answer may send its next request before this thread goes on."""
            if self.counted:
                self.counted = False
                with state.lock:
                    state.at_once -= 1

        def _answer(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if api_key and self.headers.get("Authorization") != f"Bearer {api_key}":
                self._send(401, {"error": {"message": "bad key"}})
            elif self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": self.path}})
            elif state.failure == "drop":
                self.close_connection = True
                self._leave()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif state.failure == "status":
                self._send(500, {"error": {"message": "the model crashed"}})
            else:
                if state.failure == "stall":
                    time.sleep(state.stall_seconds)
                time.sleep(state.delay_seconds)
                text = text_of(body["messages"])
                content = state.answers.get(text) or answer_of(body["messages"])
                if state.failure == "prose":
                    content = "I would rather not say."
                self._send(
                    200, {"choices": [{"message": {"role": "assistant", "content": content}}]}
                )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self._leave()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

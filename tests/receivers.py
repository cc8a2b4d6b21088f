"""Real local receivers for alerts: an HTTP server and an SMTP server on 127.0.0.1."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.processes import free_port


class HttpReceiver:
    """Records every POST as (path, content type, JSON body); `/fail` answers 500."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                content_type = self.headers.get("Content-Type", "")
                receiver.received.append((self.path, content_type, json.loads(data or b"{}")))
                self.send_response(500 if self.path == "/fail" else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, path: str) -> list[Any]:
        return [body for p, _, body in self.received if p == path]


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


class SmtpInbox:
    """Every message delivered to a real aiosmtpd server, with its envelope recipients."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_receiver(port: int | None = None) -> Iterator[SmtpInbox]:
    """An SMTP server on 127.0.0.1 (on `port`, or a free one), stopped on exit."""
    from aiosmtpd.controller import Controller

    inbox = SmtpInbox(port or free_port())
    controller = Controller(
        inbox, hostname="127.0.0.1", port=inbox.port, server_hostname="localhost"
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()

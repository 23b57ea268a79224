"""Stand-in dependencies for the recipes: real HTTP servers on 127.0.0.1 that fail on demand.

`FakeService(answer)` serves ``answer(path)`` as JSON while its ``mode`` is
``"ok"``; in a mode such as ``"503"`` it answers that status, in ``"hang"`` it never answers
(until the test moves on or five seconds pass), and in ``"drop"`` it closes
the connection without a word. ``requests`` counts what reached it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

HANG_CAP = 5.0  # the longest a hanging answer lasts, so a forgotten release cannot keep a thread


class FakeService:
    """A JSON service on 127.0.0.1 whose failures the caller scripts; use as a context manager."""

    def __init__(self, answer: Callable[[str], object]) -> None:
        self.answer = answer
        self.mode = "ok"
        self.requests = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def set(self, mode: str) -> None:
        """Answer from now on as ``mode`` says; a change frees requests left hanging."""
        self.release.set()
        self.release = threading.Event()
        self.mode = mode

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(service: FakeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            service.count()
            mode = service.mode
            if mode == "drop":
                self.close_connection = True
                return
            if mode == "hang":
                service.release.wait(HANG_CAP)
                self.close_connection = True
                return
            if mode.isdigit():
                self._send(int(mode), {"error": f"status {mode}"})
                return
            self._send(200, service.answer(self.path))

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
            pass

    return Handler

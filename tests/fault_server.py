"""A real HTTP/1.1 server on 127.0.0.1 that fails as a test scripts it, and counts what it saw.

Used by the HTTP integration tests and by benchmarks/http.py. Each request
takes the next fault from the script (then ``then``); the server counts the
attempts that reached it, per path, its peak concurrency, and the
connections still open, so tests assert on what the server saw rather than
only on what the client reports.

Faults: ``"200"``, any status code (``"404"``, ``"500"``...), ``"503:2"`` (a
``Retry-After: 2``), ``"503:date:2"`` (``Retry-After`` as an HTTP-date 2 s
from now), ``"slow-headers:0.3"`` (answer after 0.3 s), ``"slow-body:0.3"``
(headers at once, the body 0.3 s later), ``"bytes:65536"`` (a 200 with a body
that long), ``"hang"`` (never answer, until `release`), ``"reset"`` (a TCP reset
instead of an answer).

Run as a script (``python -m tests.fault_server HOST``) it serves on HOST and
takes commands on stdin: ``play FAULT...`` and ``count`` (prints the attempts
and the peak concurrency).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections import Counter, deque
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from brace import SystemClock

#: The longest a "hang" lasts, so a test that forgets to release cannot keep a thread forever.
HANG_CAP = 30.0


class FaultServer:
    """A scripted HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(self, *, then: str = "200", host: str = "127.0.0.1") -> None:
        self.then = then
        self.script: deque[str] = deque()
        self.lock = threading.Lock()
        self.attempts = 0
        self.paths: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0
        self.open_connections = 0
        self.headers: list[dict[str, str]] = []  # each attempt's request headers
        self.release_event = threading.Event()
        self.httpd = _Server((host, 0), _handler(self))
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def play(self, *faults: str, then: str | None = None) -> None:
        """Answer the next requests with ``faults``, then with ``then`` (default: unchanged)."""
        with self.lock:
            self.script.extend(faults)
            if then is not None:
                self.then = then

    def reset_counts(self) -> None:
        with self.lock:
            self.attempts = self.peak = 0
            self.paths.clear()

    def next_fault(self, path: str, headers: dict[str, str]) -> str:
        with self.lock:
            self.attempts += 1
            self.headers.append(headers)
            self.paths[path] += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return self.script.popleft() if self.script else self.then

    def release(self) -> None:
        """End every hanging request now."""
        self.release_event.set()

    def wait_closed(self, timeout: float = 2.0) -> int:
        """Wait until the server holds no open connection; the number still open."""
        clock = SystemClock()
        end = clock.monotonic() + timeout
        while self.open_connections and clock.monotonic() < end:
            threading.Event().wait(0.01)
        return self.open_connections

    def close(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: a client that gave up on a slow answer closed its end, as tests intend."""


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: leaks and reuse are real
        disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

        def setup(self) -> None:
            super().setup()
            with server.lock:
                server.open_connections += 1

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                with server.lock:
                    server.open_connections -= 1

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_PUT(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                self._skip_chunks()
            fault = server.next_fault(self.path, dict(self.headers.items()))
            try:
                self._play(fault)
            finally:
                with server.lock:
                    server.in_flight -= 1

        def _skip_chunks(self) -> None:
            """Read a chunked request body to its end, so the next request starts clean."""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                self.rfile.read(size + 2)  # the chunk and its CRLF
                if size == 0:
                    return

        def _play(self, fault: str) -> None:
            kind, _, arg = fault.partition(":")
            if kind == "hang":
                server.release_event.wait(HANG_CAP)
                self.close_connection = True
            elif kind == "reset":
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
            elif kind == "slow-headers":
                server.release_event.wait(float(arg))
                self._send(200)
            elif kind == "slow-body":
                self._send(200, body_delay=float(arg))
            elif kind == "bytes":
                self._send(200, size=int(arg))
            else:
                self._send(int(kind), retry_after=arg)

        def _send(
            self, status: int, *, retry_after: str = "", body_delay: float = 0.0, size: int = 0
        ) -> None:
            body = json.dumps({"status": status, "path": self.path}).encode()
            body += b" " * max(size - len(body), 0)
            self.send_response(status)
            if retry_after.startswith("date:"):
                when = SystemClock().wall() + float(retry_after[5:])
                self.send_header("Retry-After", formatdate(when, usegmt=True))
            elif retry_after:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body_delay:
                self.wfile.flush()
                if server.release_event.wait(body_delay):
                    return
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    """Serve on ``sys.argv[1]``; print the URL, then obey ``play``/``count`` lines on stdin."""
    with FaultServer(host=sys.argv[1]) as server:
        print(server.url, flush=True)  # noqa: T201 - the protocol is stdout
        for line in sys.stdin:
            command, *args = line.split()
            if command == "play":
                server.play(*args)
            elif command == "count":
                print(server.attempts, server.peak, flush=True)  # noqa: T201


if __name__ == "__main__":
    main()

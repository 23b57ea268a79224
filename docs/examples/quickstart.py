"""The README's service, run against a local server that fails in every way it can.

Run: python docs/examples/quickstart.py  (needs httpx: pip install 'brace[httpx]')

The server on 127.0.0.1 answers, then 404s, then answers 503 with
Retry-After, then hangs, then refuses connections (it is shut down). The
table shows what the caller got, how long it took, and how many requests
reached the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

import brace
from brace.integrations.httpx import AsyncResilientTransport

# -- the README's example, as it is there ---------------------------------------------------

# Each attempt 0.8 s; idempotent requests retried (Retry-After honoured); a breaker per host
recs = brace.http.standard("recs", attempt_timeout=0.8)
client = httpx.AsyncClient(  # one per process: pooled, and every request goes through `recs`
    base_url="https://recs.internal", transport=AsyncResilientTransport(policy=recs)
)


@brace.Fallback([brace.LastGood(max_age=300), ["bestsellers"]])  # degrade, don't fail
async def fetch_recommendations(user_id: str) -> list[str]:
    response = await client.get(f"/users/{user_id}")
    response.raise_for_status()  # a 404, or the 503 that retrying could not fix
    return response.json()  # type: ignore[no-any-return]


async def handler(user_id: str) -> list[str]:
    with brace.deadline(2.0):  # the whole request, retries included
        return await fetch_recommendations(user_id)


# -- a flaky dependency on 127.0.0.1 ------------------------------------------------------


class FlakyServer:
    """A recommendations service whose ``mode`` is healthy, 404, 503 or hang."""

    def __init__(self) -> None:
        self.mode = "healthy"
        self.requests = 0
        self.release = threading.Event()  # ends every hanging request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.mode == "hang":
                    server.release.wait()
                    return
                if server.mode == "404":
                    self._send(404, b"no such user")
                elif server.mode == "503":
                    self._send(503, b"busy", {"Retry-After": "5"})
                else:
                    user = self.path.rsplit("/", 1)[-1]
                    self._send(200, json.dumps([f"for-{user}-1", f"for-{user}-2"]).encode())

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Shut the server: connections to its port are refused from now on."""
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Recorder(httpx.AsyncBaseTransport):
    """The real transport, noting the longest socket timeout each attempt was sent with."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.timeouts: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(max(v for v in request.extensions["timeout"].values() if v))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def main() -> list[dict[str, Any]]:
    """Each phase's answer, latency, requests reaching the server, and timeouts sent."""
    global client  # noqa: PLW0603 - point the README's client at the local server
    server = FlakyServer()
    recorder = Recorder()
    transport = AsyncResilientTransport(policy=recs, transport=recorder)
    client = httpx.AsyncClient(base_url=server.url, transport=transport)
    clock = brace.SystemClock()
    hosts = next(p for p in recs if isinstance(p, brace.http.HostBreakers))
    rows: list[dict[str, Any]] = []

    async def phase(name: str, mode: str, calls: int = 1) -> None:
        server.mode = mode
        before, sent = server.requests, len(recorder.timeouts)
        started = clock.monotonic()
        answers = [await handler("ada") for _ in range(calls)]
        breaker = hosts.get(server.url)
        rows.append(
            {
                "phase": name,
                "answer": answers[-1],
                "seconds": round((clock.monotonic() - started) / calls, 3),
                "requests": server.requests - before,
                "longest_timeout": max(recorder.timeouts[sent:], default=None),
                "breaker": "CLOSED" if breaker is None else breaker.state.name,
            }
        )

    try:
        await phase("healthy", "healthy")
        await phase("404", "404")  # an answer: not retried, not an outage
        await phase("503 + Retry-After: 5", "503")  # the hint is past the deadline: give up
        await phase("hanging", "hang")  # each attempt cut at 0.8 s, then the cache
        server.stop()
        await phase("refused, until the breaker opens", "refused", calls=8)
        await phase("refused, breaker open", "refused", calls=20)
    finally:
        server.stop()
        await client.aclose()
    return rows


if __name__ == "__main__":
    for row in asyncio.run(main()):
        print(
            f"{row['phase']:34} {row['seconds']:6.3f} s/call  "
            f"{row['requests']:3} requests  {row['breaker']:9} {row['answer']}"
        )

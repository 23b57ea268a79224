"""The README's service, run against a local server that fails in every way it can.

Run: python docs/examples/quickstart.py  (needs httpx: pip install httpx)

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

# -- the README's example, as it is there ---------------------------------------------------


def transient(exc: BaseException) -> bool:
    """Connection trouble, timeouts, 408, 429 and 5xx; a 404 is an answer, not an outage."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in (408, 429) or exc.response.status_code >= 500
    return isinstance(exc, (httpx.TransportError, brace.TimeoutExceededError))


client = httpx.AsyncClient(base_url="https://recs.internal")  # one per process: pooled

recommendations = brace.pipeline(
    brace.Fallback([brace.LastGood(max_age=300), ["bestsellers"]]),  # degrade, don't fail
    brace.Retry(attempts=3, on=transient, budget=brace.RetryBudget()),  # jittered backoff
    brace.CircuitBreaker("recs", failure_rate=0.5, open_for=30, record=transient),
    brace.Bulkhead("recs", max_concurrent=20),  # one hang can't take all
    brace.Timeout(0.8),  # bound each attempt
)


@recommendations
async def fetch_recommendations(user_id: str) -> list[str]:
    # remaining(): this attempt's 0.8 s, or less when the request's deadline is nearer
    response = await client.get(f"/users/{user_id}", timeout=brace.remaining())
    response.raise_for_status()
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


async def main() -> list[dict[str, Any]]:
    """Each phase's answer, latency, requests reaching the server, and timeouts sent."""
    global client  # noqa: PLW0603 - point the README's client at the local server
    server = FlakyServer()
    timeouts: list[float] = []

    async def note_timeout(request: httpx.Request) -> None:
        timeouts.append(max(v for v in request.extensions["timeout"].values() if v))

    client = httpx.AsyncClient(base_url=server.url, event_hooks={"request": [note_timeout]})
    clock = brace.SystemClock()
    breaker = next(p for p in recommendations if isinstance(p, brace.CircuitBreaker))
    rows: list[dict[str, Any]] = []

    async def phase(name: str, mode: str, calls: int = 1) -> None:
        server.mode = mode
        before, sent = server.requests, len(timeouts)
        started = clock.monotonic()
        answers = [await handler("ada") for _ in range(calls)]
        rows.append(
            {
                "phase": name,
                "answer": answers[-1],
                "seconds": round((clock.monotonic() - started) / calls, 3),
                "requests": server.requests - before,
                "longest_timeout": max(timeouts[sent:], default=None),
                "breaker": breaker.state.name,
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

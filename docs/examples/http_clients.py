"""HTTP clients made resilient in one line: httpx sync and async, through brace.http.standard.

Run: python docs/examples/http_clients.py  (needs httpx: pip install 'brace[httpx]')

The dependency is an httpx.MockTransport standing in for a server: it answers
503 twice and then 200, or 404, or 503 with a Retry-After longer than the
deadline. The output shows what the caller got and how many attempts it took.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

import brace
from brace.integrations.httpx import AsyncResilientTransport, ResilientTransport
from brace.testing import no_wait

attempts: Counter[str] = Counter()


def flaky(request: httpx.Request) -> httpx.Response:
    """/flaky fails twice then answers; /missing is a 404; /busy asks for a long pause."""
    path = request.url.path
    attempts[path] += 1
    if path == "/missing":
        return httpx.Response(404)
    if path == "/busy":
        return httpx.Response(503, headers={"Retry-After": "30"})
    if attempts[path] <= 2:
        return httpx.Response(503)
    info = brace.http.current_request()  # the request in flight, as brace sees it
    return httpx.Response(200, json={"resends": info.resend_count if info else None})


def sync_client() -> httpx.Client:
    # The one line: every request through `policy`, the rest of the code unchanged.
    policy = brace.http.standard("catalog", attempt_timeout=2.0)
    return httpx.Client(
        base_url="http://catalog.internal",
        transport=ResilientTransport(policy=policy, transport=httpx.MockTransport(flaky)),
    )


async def async_get(path: str) -> httpx.Response:
    policy = brace.http.standard("catalog-async", attempt_timeout=2.0)
    transport = AsyncResilientTransport(policy=policy, transport=httpx.MockTransport(flaky))
    async with httpx.AsyncClient(base_url="http://catalog.internal", transport=transport) as c:
        return await c.get(path)


def main() -> dict[str, tuple[int, int]]:
    """``{case: (status, attempts)}`` for each case, printed as a table."""
    results: dict[str, tuple[int, int]] = {}
    with no_wait(), sync_client() as client:  # no_wait: skip the backoff sleeps in this demo
        results["GET /flaky (sync)"] = (client.get("/flaky").status_code, attempts["/flaky"])
        results["GET /missing"] = (client.get("/missing").status_code, attempts["/missing"])
        results["POST /flaky/post"] = (
            client.post("/flaky/post").status_code,  # not idempotent: never repeated
            attempts["/flaky/post"],
        )
        keyed = client.post("/flaky/keyed", headers={"Idempotency-Key": "order-42"})
        results["POST with Idempotency-Key"] = (keyed.status_code, attempts["/flaky/keyed"])
        with brace.deadline(5.0):  # Retry-After: 30 is past the deadline: answered at once
            busy = client.get("/busy")
        results["GET /busy, 5 s deadline"] = (busy.status_code, attempts["/busy"])
        attempts.clear()
        results["GET /flaky (async)"] = (
            asyncio.run(async_get("/flaky")).status_code,
            attempts["/flaky"],
        )
    return results


if __name__ == "__main__":
    for case, (status, tries) in main().items():
        print(f"{case:28} -> {status}  after {tries} attempt(s)")

"""Deadlines across services: the time left travels as a header and opens a deadline there."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests

import brace
import brace.http
from brace.integrations.deadlines import DeadlineMiddleware, format_timeout, parse_timeout
from brace.integrations.httpx import AsyncResilientTransport, ResilientTransport
from brace.integrations.requests import ResilientAdapter
from tests.fault_server import FaultServer

HEADER = "X-Request-Timeout"


def recording_app(seen: list[float | None]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(brace.remaining())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def call(app: Any, headers: dict[str, str] | None = None, path: str = "/") -> int:
    async def go() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return (await client.get(path, headers=headers)).status_code

    return asyncio.run(go())


def test_header_values() -> None:
    assert format_timeout(0.75) == "0.750"
    assert format_timeout(-1) == "0.000"
    assert parse_timeout("0.750") == 0.75
    assert parse_timeout(b"2") == 2.0
    for bad in (None, "", "soon", "-1", "nan", "inf"):
        assert parse_timeout(bad) is None


def test_the_middleware_runs_the_handler_inside_the_callers_deadline() -> None:
    seen: list[float | None] = []
    app = DeadlineMiddleware(recording_app(seen), max_seconds=5)
    assert call(app, {HEADER: "0.500"}) == 200
    assert call(app, {HEADER: "60"}) == 200  # capped at max_seconds
    assert call(app, {HEADER: "garbage"}) == 200  # ignored: no deadline
    assert call(app) == 200
    first, capped, garbage, absent = seen
    assert first is not None and 0.4 < first <= 0.5
    assert capped is not None and 4.5 < capped <= 5
    assert (garbage, absent) == (None, None)


def test_the_middleware_default_applies_without_a_header() -> None:
    seen: list[float | None] = []
    assert call(DeadlineMiddleware(recording_app(seen), default=2.0)) == 200
    assert seen[0] is not None and 1.5 < seen[0] <= 2.0


def test_the_middleware_leaves_other_scopes_alone() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])
        assert brace.remaining() is None

    asyncio.run(DeadlineMiddleware(app)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert calls == ["lifespan"]


def test_the_transport_sends_each_attempts_time_left_end_to_end() -> None:
    seen: list[float | None] = []
    server = DeadlineMiddleware(recording_app(seen))
    transport = AsyncResilientTransport(
        brace.http.standard("svc", attempt_timeout=0.4),
        httpx.ASGITransport(app=server),
        deadline_header=HEADER,
    )

    async def go() -> httpx.Request:
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            response = await client.get("/")
            with brace.deadline(0.2):
                await client.get("/")
            return response.request

    request = asyncio.run(go())
    assert HEADER not in request.headers  # the caller's request object is left as it was
    assert seen[0] is not None and 0.3 < seen[0] <= 0.4  # the attempt's time limit
    assert seen[1] is not None and 0.1 < seen[1] <= 0.2  # the caller's tighter deadline


@pytest.mark.parametrize("kind", ["httpx", "requests"])
def test_sync_clients_send_the_header_to_a_real_server(kind: str) -> None:
    policy = brace.http.standard("svc", attempt_timeout=0.4)
    with FaultServer() as server:
        if kind == "httpx":
            with httpx.Client(transport=ResilientTransport(policy, deadline_header=HEADER)) as c:
                c.get(server.url, headers={HEADER: "mine"})
                c.get(server.url)
        else:
            session = requests.Session()
            session.mount("http://", ResilientAdapter(policy, deadline_header=HEADER))
            session.get(server.url, headers={HEADER: "mine"})
            session.get(server.url)
            session.close()
        for headers in server.headers:
            assert 0.3 < float(headers[HEADER]) <= 0.4


def test_without_a_deadline_no_header_is_sent() -> None:
    with FaultServer() as server:
        transport = ResilientTransport(brace.http.HostBreakers("svc"), deadline_header=HEADER)
        with httpx.Client(transport=transport) as client:
            client.get(server.url)
        assert HEADER not in server.headers[0]


def test_bad_header_names_are_refused() -> None:
    with pytest.raises(brace.ConfigError, match="deadline_header=3"):
        ResilientTransport(deadline_header=3)  # type: ignore[arg-type]
    with pytest.raises(brace.ConfigError, match="header"):
        DeadlineMiddleware(recording_app([]), header="")
    with pytest.raises(brace.ConfigError, match="max_seconds"):
        DeadlineMiddleware(recording_app([]), max_seconds=-1)

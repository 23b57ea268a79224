"""httpx transports that run every request through a brace policy (extra ``brace[httpx]``).

::

    import brace.http
    from brace.integrations.httpx import AsyncResilientTransport, ResilientTransport

    client = httpx.Client(transport=ResilientTransport(policy=brace.http.standard("recs")))
    aclient = httpx.AsyncClient(
        transport=AsyncResilientTransport(policy=brace.http.standard("recs"))
    )

Each attempt's socket timeouts (connect, read, write, pool) are the smaller
of the client's and `brace.remaining()`. A transient status (408, 429, 5xx)
is a failure for the retry and the breaker; its body is read and the
connection returned to the pool, and when the retries give up that last
response is returned, so ``raise_for_status()`` works as before. A response
is protected until its headers arrive: the body is read afterwards, by the
client or by you when streaming, under the socket timeouts the attempt had.
"""

from __future__ import annotations

from typing import Any

import httpx

from brace._deadline import remaining
from brace._http_errors import TRANSIENT_STATUSES
from brace._http_request import RequestInfo, join_authority
from brace._policy import Policy
from brace.http import TransientStatusError
from brace.integrations._http import (
    MIN_TIMEOUT,
    asend,
    check_header,
    check_policy,
    restore,
    send,
    stamp,
)

__all__ = ["AsyncResilientTransport", "ResilientTransport"]

_PHASES = ("connect", "read", "write", "pool")
_NO_TIMEOUTS: dict[str, float | None] = {}
_Undo = tuple[dict[str, Any], str | None]


def _describe(request: httpx.Request) -> RequestInfo:
    url = request.url
    return RequestInfo(
        method=request.method,
        authority=join_authority(url.scheme, url.host, url.port),
        headers=request.headers,
        # A body given as bytes can be sent again; a generator or a file upload cannot.
        replayable=isinstance(request.stream, httpx.ByteStream),
    )


def _limited(extensions: dict[str, Any], left: float | None) -> dict[str, Any]:
    """``extensions`` with every timeout no longer than ``left`` (`brace.remaining()`)."""
    if left is None:
        return extensions
    left = max(left, MIN_TIMEOUT)
    given = extensions.get("timeout") or _NO_TIMEOUTS
    connect, read, write, pool = (given.get(phase) for phase in _PHASES)
    timeout = {
        "connect": left if connect is None or connect > left else connect,
        "read": left if read is None or read > left else read,
        "write": left if write is None or write > left else write,
        "pool": left if pool is None or pool > left else pool,
    }
    return {**extensions, "timeout": timeout}


def _buffered(response: httpx.Response, request: httpx.Request, body: bytes) -> httpx.Response:
    """A copy of ``response`` holding its raw ``body``, so it can be handed back after retries."""
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(body),
        extensions=response.extensions,
        request=request,
    )


def _begin(request: httpx.Request, info: RequestInfo, header: str | None) -> _Undo:
    """Count the attempt and give ``request`` its time limits; what `_end` restores."""
    info.attempts += 1
    given, left = request.extensions, remaining()
    request.extensions = _limited(given, left)
    return given, stamp(request.headers, header, left)


def _end(request: httpx.Request, header: str | None, undo: _Undo) -> None:
    """Give the caller's request back as it was: it may be sent again."""
    request.extensions, previous = undo
    restore(request.headers, header, previous)


class ResilientTransport(httpx.BaseTransport):
    """An httpx transport that sends each request through ``policy``.

    Args:
        policy: A brace policy or pipeline. Default
            ``brace.http.standard("http")``; give each dependency its own,
            named after it.
        transport: The transport that sends each attempt. Default
            ``httpx.HTTPTransport()`` (configure pool limits, TLS and
            proxies there: a client given a transport does not apply its own).
        deadline_header: Send each attempt's time left (`brace.remaining()`)
            in this header, for a server's `brace.integrations.deadlines.
            DeadlineMiddleware`. Default None: no header.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        deadline_header: str | None = None,
    ) -> None:
        self.policy = check_policy(policy, type(self).__name__)
        self.transport = httpx.HTTPTransport() if transport is None else transport
        self.deadline_header = check_header(deadline_header)
        self._attempt = self.policy(self._send_once)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` under the policy; the last response if every attempt was transient."""
        return send(self._attempt, _describe(request), request)

    def _send_once(self, request: httpx.Request, info: RequestInfo) -> httpx.Response:
        undo = _begin(request, info, self.deadline_header)
        try:
            response = self.transport.handle_request(request)
        finally:
            _end(request, self.deadline_header, undo)
        if response.status_code not in TRANSIENT_STATUSES:
            return response
        try:
            body = b"".join(response.stream)  # type: ignore[arg-type]
        finally:
            response.close()
        raise TransientStatusError(_buffered(response, request, body))

    def close(self) -> None:
        """Close the inner transport and its connections."""
        self.transport.close()


class AsyncResilientTransport(httpx.AsyncBaseTransport):
    """An httpx async transport that sends each request through ``policy``.

    Args:
        policy: A brace policy or pipeline. Default ``brace.http.standard("http")``.
        transport: The transport that sends each attempt. Default
            ``httpx.AsyncHTTPTransport()``.
        deadline_header: As for `ResilientTransport`. Default None.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        deadline_header: str | None = None,
    ) -> None:
        self.policy = check_policy(policy, type(self).__name__)
        self.transport = httpx.AsyncHTTPTransport() if transport is None else transport
        self.deadline_header = check_header(deadline_header)
        self._attempt = self.policy(self._send_once)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` under the policy; the last response if every attempt was transient."""
        return await asend(self._attempt, _describe(request), request)

    async def _send_once(self, request: httpx.Request, info: RequestInfo) -> httpx.Response:
        undo = _begin(request, info, self.deadline_header)
        try:
            response = await self.transport.handle_async_request(request)
        finally:
            _end(request, self.deadline_header, undo)
        if response.status_code not in TRANSIENT_STATUSES:
            return response
        try:
            body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        finally:
            await response.aclose()
        raise TransientStatusError(_buffered(response, request, body))

    async def aclose(self) -> None:
        """Close the inner transport and its connections."""
        await self.transport.aclose()

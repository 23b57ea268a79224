"""An aiohttp client middleware that runs every request through a brace policy (``brace[aiohttp]``).

::

    import brace.http
    from brace.integrations.aiohttp import ResilientMiddleware

    session = aiohttp.ClientSession(
        middlewares=(ResilientMiddleware(policy=brace.http.standard("recs")),)
    )

It behaves as `brace.integrations.httpx.AsyncResilientTransport` does, with
one difference: aiohttp fixes a request's socket timeouts when the session
sends it, so each attempt is bounded by cancelling it when `brace.remaining()`
runs out, and that raises aiohttp's own ``ServerTimeoutError``. Needs aiohttp
3.12 or later (client middlewares).
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from aiohttp.payload import BytesPayload

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
    stamp,
)

__all__ = ["ResilientMiddleware"]


def _describe(request: ClientRequest) -> RequestInfo:
    url = request.url
    body = request.body
    return RequestInfo(
        method=request.method,
        authority=join_authority(url.scheme, url.host or "", url.port),
        headers=request.headers,
        # Bytes can be sent again; a stream or an async generator is read once.
        replayable=body == b"" or isinstance(body, BytesPayload),
    )


class ResilientMiddleware:
    """An aiohttp client middleware that sends each request through ``policy``.

    Args:
        policy: A brace policy or pipeline. Default ``brace.http.standard("http")``.
        deadline_header: Send each attempt's time left in this header, for a
            server's `brace.integrations.deadlines.DeadlineMiddleware`. Default None.
    """

    def __init__(self, policy: Policy | None = None, *, deadline_header: str | None = None) -> None:
        self.policy = check_policy(policy, type(self).__name__)
        self.deadline_header = check_header(deadline_header)
        self._attempt = self.policy(self._send_once)

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Send ``request`` under the policy; the last response if every attempt was transient.

        When the policy gives up on a dropped connection, the error is raised as
        an ``aiohttp.ClientConnectionError`` (its cause the original): aiohttp
        would otherwise send an idempotent request once more, and the policy
        with it, on top of the attempts the policy already made.
        """
        try:
            return await asend(self._attempt, _describe(request), request, handler)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            error = aiohttp.ClientConnectionError(str(exc) or type(exc).__name__)
            error.__notes__ = list(getattr(exc, "__notes__", ()))
            raise error from exc

    async def _send_once(
        self, request: ClientRequest, handler: ClientHandlerType, info: RequestInfo
    ) -> ClientResponse:
        info.attempts += 1
        left, header = remaining(), self.deadline_header
        previous = stamp(request.headers, header, left)
        try:
            if left is None:
                response = await handler(request)
            else:
                response = await _within(handler, request, max(left, MIN_TIMEOUT))
        finally:
            restore(request.headers, header, previous)
        if response.status not in TRANSIENT_STATUSES:
            return response
        # Read to the end: the connection goes back to the pool, and the body stays on the
        # response for the caller (aiohttp refuses to read a response released by hand).
        await response.read()
        raise TransientStatusError(response)


async def _within(
    handler: ClientHandlerType, request: ClientRequest, seconds: float
) -> ClientResponse:
    """``handler(request)``, cancelled after ``seconds``: aiohttp's timeout error then."""
    try:
        async with asyncio.timeout(seconds) as scope:
            return await handler(request)
    except TimeoutError:
        if scope.expired():
            raise aiohttp.ServerTimeoutError(
                f"no response from {request.url.host} within {seconds:.3g} s "
                "(the time left to this attempt)"
            ) from None
        raise

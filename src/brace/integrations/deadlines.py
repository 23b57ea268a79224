"""Deadlines across services: send the time left as a header, and honour it on arrival.

No dependency. The client side is an option of brace's HTTP integrations::

    transport = ResilientTransport(policy=..., deadline_header="X-Request-Timeout")

Each attempt then carries the seconds it has left (``"0.750"``). On the server,
`DeadlineMiddleware` (ASGI: Starlette, FastAPI, Quart, ...) reads the header
and runs the handler inside ``brace.deadline(seconds)``, so every brace policy
and integration in the handler stops in time, as gRPC's deadline propagation
does::

    app = DeadlineMiddleware(app, max_seconds=30)
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from brace import _validate
from brace._deadline import deadline

__all__ = ["DEFAULT_HEADER", "DeadlineMiddleware", "format_timeout", "parse_timeout"]

#: The header both sides use unless told otherwise.
DEFAULT_HEADER = "X-Request-Timeout"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def format_timeout(seconds: float) -> str:
    """The header value for ``seconds`` left: decimal seconds, to the millisecond (>= 0)."""
    return f"{max(seconds, 0.0):.3f}"


def parse_timeout(value: str | bytes | None) -> float | None:
    """Seconds from a header value, or ``None`` if absent or not a finite number >= 0."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


class DeadlineMiddleware:
    """ASGI middleware: run each HTTP request inside ``brace.deadline`` from its header.

    A request without the header (or with a value that is not a number of
    seconds) runs under ``default`` (no deadline if ``None``); a value above
    ``max_seconds`` is cut to it, so a caller cannot make the server work
    longer than it allows. The deadline interrupts nothing by itself: brace's
    policies and integrations inside the handler honour it.

    Args:
        app: The ASGI application.
        header: The header to read. Default ``"X-Request-Timeout"``.
        default: Seconds for requests without the header. Default None.
        max_seconds: The most a caller may ask for. Default None: no cap.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str = DEFAULT_HEADER,
        default: float | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.app = app
        self.header = _validate.name("header", header).lower().encode("latin-1")
        self.default = _validate.optional_duration("default", default)
        self.max_seconds = _validate.optional_duration("max_seconds", max_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, inside a deadline for HTTP requests that name one."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        seconds = self._seconds(scope.get("headers") or ())
        if seconds is None:
            await self.app(scope, receive, send)
            return
        with deadline(seconds):
            await self.app(scope, receive, send)

    def _seconds(self, headers: Any) -> float | None:
        asked = next((parse_timeout(v) for k, v in headers if k.lower() == self.header), None)
        seconds = self.default if asked is None else asked
        if seconds is not None and self.max_seconds is not None:
            seconds = min(seconds, self.max_seconds)
        return seconds

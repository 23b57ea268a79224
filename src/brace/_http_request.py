"""The HTTP request in flight, as brace's HTTP policies see it.

An integration (a transport or an adapter) describes each request once, in a
`RequestInfo`, and makes it current (a `contextvars` variable) while the
request runs through the policy: the per-host breaker reads its authority,
the retry rule its method and whether its body can be sent again, and an
instrumentation its attempt count. The variable follows the call into
asyncio tasks and the worker threads brace starts, as deadlines do.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["CURRENT", "RequestInfo", "authority", "current_request"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def authority(url: str) -> str:
    """The ``host[:port]`` a URL names: lower-case host, the port only when not the default.

    IPv6 hosts keep their brackets. This is the key of a per-host breaker.
    """
    parts = urlsplit(url if "//" in url else f"//{url}")
    return join_authority(parts.scheme, parts.hostname or "", parts.port)


@functools.lru_cache(maxsize=1024)
def join_authority(scheme: str, host: str, port: int | None) -> str:
    """``host[:port]`` from parts already split (see `authority`); cached, as hosts repeat."""
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(scheme.lower()):
        return host
    return f"{host}:{port}"


@dataclass(slots=True)
class RequestInfo:
    """One HTTP request going through brace, from `brace.http.current_request`.

    Attributes:
        method: The method, upper-case.
        authority: ``host[:port]`` (see `brace.http.authority`).
        headers: The request's headers (a case-insensitive mapping), or ``None``.
        replayable: Its body can be sent again (bytes, or no body); a
            streamed upload cannot, so such a request is never retried.
        attempts: Attempts started so far (1 during the first).
    """

    method: str
    authority: str
    headers: Mapping[str, str] | None = None
    replayable: bool = True
    attempts: int = field(default=0)

    @property
    def keyed(self) -> bool:
        """Whether the request carries an ``Idempotency-Key`` header (asked only on failure)."""
        return self.headers is not None and "Idempotency-Key" in self.headers

    @property
    def resend_count(self) -> int:
        """Attempts before the current one: OpenTelemetry's ``http.request.resend_count``."""
        return max(self.attempts - 1, 0)


CURRENT: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "brace_http_request", default=None
)


def current_request() -> RequestInfo | None:
    """The HTTP request brace's integration is running in this context, or ``None``.

    Inside an attempt (for example in a transport wrapped by a
    `brace.integrations.httpx.ResilientTransport`, or in an event hook of
    the inner transport) ``current_request().resend_count`` is the number of
    attempts made before this one.
    """
    return CURRENT.get()

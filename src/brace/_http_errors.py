"""Which HTTP outcomes are the dependency's fault, without importing any HTTP client.

httpx, requests (urllib3) and aiohttp each have their own exception tree.
brace's core has no dependencies, so this module looks a library's classes up
in `sys.modules` when an exception needs judging (failure paths only): a
library that is not imported cannot have raised anything.

Transient (worth retrying, and counted by a breaker): the connection could not
be made, broke, or timed out, or the server answered 408, 429, 500, 502, 503
or 504. Not transient: every other answer (a 4xx is the caller's problem, and
the server was healthy enough to say so), a request brace refused to send, and
errors made locally (a bad URL, an invalid header, a certificate that does not
verify: retrying cannot fix them).
"""

from __future__ import annotations

import sys
from typing import Any

from brace._errors import RejectedError, TimeoutExceededError

__all__ = ["TRANSIENT_STATUSES", "never_sent", "status_of", "transient_exception"]

#: Status codes that say "try again later": timeout, rate limited, server-side failures.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def status_of(response: object) -> int | None:
    """A response's status code: ``status_code`` (httpx, requests) or ``status`` (aiohttp)."""
    for attribute in ("status_code", "status"):
        code = getattr(response, attribute, None)
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def _module(name: str) -> Any:
    return sys.modules.get(name)


def _library_verdict(exc: BaseException) -> bool | None:  # noqa: PLR0911 - one rule per library
    """True/False when an imported HTTP library's exception tree decides, else ``None``."""
    httpx = _module("httpx")
    if httpx is not None and isinstance(exc, httpx.HTTPError):
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            return False  # the request itself is wrong: no retry can fix it
        return isinstance(exc, httpx.TransportError)
    requests = _module("requests.exceptions")
    if requests is not None and isinstance(exc, requests.RequestException):
        if isinstance(exc, requests.SSLError | requests.InvalidURL):
            return False
        return isinstance(
            exc, requests.ConnectionError | requests.Timeout | requests.ChunkedEncodingError
        )
    urllib3 = _module("urllib3.exceptions")
    if urllib3 is not None and isinstance(exc, urllib3.HTTPError):
        if isinstance(exc, urllib3.SSLError):
            return False
        return isinstance(exc, urllib3.TimeoutError | urllib3.ProtocolError)
    aiohttp = _module("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):
        if isinstance(exc, aiohttp.ClientResponseError):  # raise_for_status: the status decides
            return exc.status in TRANSIENT_STATUSES
        if isinstance(exc, aiohttp.ClientSSLError | aiohttp.InvalidURL):
            return False
        return isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError)
    return None


def transient_exception(exc: BaseException) -> bool:
    """Whether ``exc`` says the dependency failed (see the module docstring)."""
    response = getattr(exc, "response", None)
    if response is not None:  # an error raised for a response (raise_for_status)
        code = status_of(response)
        if code is not None:
            return code in TRANSIENT_STATUSES
    if isinstance(exc, TimeoutExceededError):
        return True  # an attempt (or the whole call) ran out of time waiting for the server
    if isinstance(exc, RejectedError):
        return False  # brace's own protection refused to send it: not the dependency's doing
    verdict = _library_verdict(exc)
    if verdict is not None:
        return verdict
    return isinstance(exc, ConnectionError | TimeoutError)


def never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` proves the request never left: no connection was made for it.

    Such a request is safe to try again whatever its method.
    """
    httpx = _module("httpx")
    if httpx is not None and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return True
    if httpx is not None and isinstance(exc, httpx.PoolTimeout):
        return True
    requests = _module("requests.exceptions")
    if requests is not None and isinstance(exc, requests.ConnectTimeout):
        return True
    urllib3 = _module("urllib3.exceptions")
    if urllib3 is not None:
        # requests wraps urllib3's MaxRetryError, whose reason says what went wrong.
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(exc, urllib3.ConnectTimeoutError) or isinstance(
            reason, urllib3.ConnectTimeoutError
        ):
            return True  # NewConnectionError (refused, unreachable) is one of these
    aiohttp = _module("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientConnectorError):
        return not isinstance(exc, aiohttp.ClientSSLError)
    return isinstance(exc, ConnectionRefusedError)

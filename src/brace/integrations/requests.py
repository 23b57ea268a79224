"""A requests adapter that runs every request through a brace policy (extra ``brace[requests]``).

::

    import brace.http
    from brace.integrations.requests import ResilientAdapter

    session = requests.Session()
    adapter = ResilientAdapter(policy=brace.http.standard("payments"))
    session.mount("https://", adapter)
    session.mount("http://", adapter)

It behaves as `brace.integrations.httpx.ResilientTransport` does, and a
request sent without a timeout gets ``default_timeout``: requests would
otherwise wait forever for a server that never answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from urllib3.util import Timeout as Urllib3Timeout

from brace import _validate
from brace._deadline import remaining
from brace._errors import ConfigError
from brace._http_errors import TRANSIENT_STATUSES
from brace._http_request import RequestInfo, join_authority
from brace._policy import Policy
from brace.http import TransientStatusError
from brace.integrations._http import (
    MIN_TIMEOUT,
    check_header,
    check_policy,
    restore,
    send,
    stamp,
)

__all__ = ["ResilientAdapter"]

#: What requests accepts as ``timeout=``.
TimeoutArg = float | tuple[float | None, float | None] | Urllib3Timeout | None
Cert = bytes | str | tuple[bytes | str, bytes | str] | None


def _split(timeout: object) -> tuple[float | None, float | None]:
    """``(connect, read)`` from a requests ``timeout`` argument."""
    if isinstance(timeout, Urllib3Timeout):
        connect, read = timeout.connect_timeout, timeout.read_timeout
        return (
            connect if isinstance(connect, int | float) else None,
            read if isinstance(read, int | float) else None,
        )
    if isinstance(timeout, tuple):
        connect, read = timeout
        return connect, read
    if timeout is None or isinstance(timeout, int | float):
        return timeout, timeout
    raise ValueError(f"timeout={timeout!r}: expected a float, a (connect, read) tuple or None")


def _describe(request: PreparedRequest) -> RequestInfo:
    url = urlsplit(request.url or "")
    return RequestInfo(
        method=(request.method or "GET").upper(),
        authority=join_authority(url.scheme, url.hostname or "", url.port),
        headers=request.headers,
        # Bytes can be sent again; a generator or a file is read once.
        replayable=request.body is None or isinstance(request.body, bytes | str),
    )


class ResilientAdapter(HTTPAdapter):
    """A requests ``HTTPAdapter`` that sends each request through ``policy``; mount it on a Session.

    Args:
        policy: A brace policy or pipeline. Default ``brace.http.standard("http")``.
        default_timeout: Seconds (or ``(connect, read)``) for a request sent
            without a timeout, or for the part it left ``None``; the time
            left (`brace.remaining()`) shortens it further. Default 10.
        pool_connections: As for ``HTTPAdapter``. Default 10.
        pool_maxsize: As for ``HTTPAdapter``. Default 10.
        pool_block: As for ``HTTPAdapter``. Default False.
        deadline_header: Send each attempt's time left in this header, for a
            server's `brace.integrations.deadlines.DeadlineMiddleware`. Default None.

    urllib3's own retries stay off (``max_retries=0``): the policy retries.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        default_timeout: float | tuple[float, float] = 10.0,
        pool_connections: int = 10,
        pool_maxsize: int = 10,
        pool_block: bool = False,
        deadline_header: str | None = None,
    ) -> None:
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=0,
            pool_block=pool_block,
        )
        self.policy = check_policy(policy, type(self).__name__)
        self.deadline_header = check_header(deadline_header)
        connect, read = _split(default_timeout) if _sane(default_timeout) else (None, None)
        if connect is None or read is None:
            raise ConfigError(
                f"default_timeout={default_timeout!r} is not allowed; expected seconds > 0 or "
                "a (connect, read) tuple of them: a request must never wait forever"
            )
        self.default_timeout = (
            _validate.duration("default_timeout", connect, allow_zero=False),
            _validate.duration("default_timeout", read, allow_zero=False),
        )
        self._attempt = self.policy(self._send_once)

    def send(  # noqa: PLR0917 - requests' own signature
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: TimeoutArg = None,
        verify: bool | str = True,
        cert: Cert = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        """Send ``request`` under the policy; the last response if every attempt was transient."""
        return send(
            self._attempt, _describe(request), request, stream, timeout, verify, cert, proxies
        )

    def _send_once(  # noqa: PLR0917 - requests' own arguments, then ours
        self,
        request: PreparedRequest,
        stream: bool,
        timeout: TimeoutArg,
        verify: bool | str,
        cert: Cert,
        proxies: Mapping[str, str] | None,
        info: RequestInfo,
    ) -> Response:
        info.attempts += 1
        left, header = remaining(), self.deadline_header
        previous = stamp(request.headers, header, left)
        try:
            response = super().send(
                request,
                stream=stream,
                timeout=self._limited(timeout, left),
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        finally:
            restore(request.headers, header, previous)
        if response.status_code in TRANSIENT_STATUSES:
            _ = response.content  # read to the end: the connection goes back to the pool
            raise TransientStatusError(response)
        return response

    def _limited(self, timeout: TimeoutArg, left: float | None) -> tuple[float, float]:
        """``(connect, read)``: the caller's, or the default, no longer than ``left``."""
        connect, read = _split(timeout)
        default_connect, default_read = self.default_timeout
        connect = default_connect if connect is None else connect
        read = default_read if read is None else read
        if left is None:
            return connect, read
        left = max(left, MIN_TIMEOUT)
        return min(connect, left), min(read, left)


def _sane(value: object) -> bool:
    if isinstance(value, tuple):
        return len(value) == 2 and all(_number(v) for v in value)
    return _number(value)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0

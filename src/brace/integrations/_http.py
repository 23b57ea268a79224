"""What brace's HTTP integrations share: running a request, its time limits, the policy.

`send` (threads) and `asend` (asyncio) run one request through the policy's
wrapped attempt function with the request made current, and turn a
`TransientStatusError` that outlived the retries back into its response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from brace._errors import ConfigError
from brace._http_request import CURRENT, RequestInfo
from brace._policy import Policy
from brace.http import TransientStatusError, standard
from brace.integrations.deadlines import format_timeout

__all__ = ["MIN_TIMEOUT", "asend", "check_header", "check_policy", "restore", "send", "stamp"]

R = TypeVar("R")

#: The shortest socket timeout handed on: 0 would make a socket non-blocking, not quick.
MIN_TIMEOUT = 0.001


def check_policy(policy: object, owner: str) -> Policy:
    """``policy``, or the standard pipeline named ``"http"`` for ``None``."""
    if policy is None:
        return standard("http")
    if not isinstance(policy, Policy):
        raise ConfigError(
            f"{owner}(policy={policy!r}) is not allowed; expected None (brace.http.standard"
            '("http")) or a brace policy or pipeline, such as brace.http.standard("recs")'
        )
    return policy


def send(attempt: Callable[..., R], info: RequestInfo, *args: Any) -> R:
    """Run ``attempt(*args, info)`` (policy-wrapped); the last response if it stayed transient."""
    token = CURRENT.set(info)
    try:
        return attempt(*args, info)
    except TransientStatusError as exc:
        return exc.response  # type: ignore[no-any-return]
    finally:
        CURRENT.reset(token)


async def asend(attempt: Callable[..., Awaitable[R]], info: RequestInfo, *args: Any) -> R:
    """`send` for asyncio."""
    token = CURRENT.set(info)
    try:
        return await attempt(*args, info)
    except TransientStatusError as exc:
        return exc.response  # type: ignore[no-any-return]
    finally:
        CURRENT.reset(token)


def check_header(header: object) -> str | None:
    """A ``deadline_header=`` argument: ``None`` or a header name."""
    if header is None or (isinstance(header, str) and header and header.isascii()):
        return header
    raise ConfigError(
        f"deadline_header={header!r} is not allowed; expected None or a header name such as "
        '"X-Request-Timeout"'
    )


def stamp(headers: MutableMapping[str, str], name: str | None, left: float | None) -> str | None:
    """Send the time ``left`` as header ``name``; what `restore` needs (``None``: nothing set)."""
    if name is None or left is None:
        return None
    previous = headers.get(name, "")
    headers[name] = format_timeout(left)
    return previous


def restore(headers: MutableMapping[str, str], name: str | None, previous: str | None) -> None:
    """Undo `stamp`: the request object is the caller's, and may be sent again."""
    if name is None or previous is None:
        return
    if previous:
        headers[name] = previous
    else:
        headers.pop(name, None)

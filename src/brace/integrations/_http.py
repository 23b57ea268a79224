"""What brace's HTTP integrations share: running a request, its time limits, the policy.

`send` (threads) and `asend` (asyncio) run one request through the policy's
wrapped attempt function with the request made current, and turn a
`TransientStatusError` that outlived the retries back into its response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from brace._errors import ConfigError
from brace._http_request import CURRENT, RequestInfo
from brace._policy import Policy
from brace.http import TransientStatusError, standard

__all__ = ["MIN_TIMEOUT", "asend", "check_policy", "send"]

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

"""The shell shared by the policies that answer for a failed call: `Fallback` and `LastGood`.

A subclass makes every decision without running anything. Given the call's
failure, ``_failed`` returns a `brace._flow` flow that yields each callable
alternative it wants run (an `Alternative`, a flow step), reads the outcome
from the box, and leaves the answer there or raises. Given a result,
``_succeeded`` returns a flow when the result must be replaced, or None when
it stands. The shell is written once (async); the sync one is derived.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace._calls import calls_user_code, refuse_awaitable, shell
from brace._clock import SYSTEM_CLOCK
from brace._flow import Flow, adrive, drive  # noqa: F401 - drive: _wrap's driver
from brace._policy import Args, Kwargs, Policy
from brace._unasync import IS_ASYNC, sync_twin

__all__ = ["Alternative", "Kind", "Substitute"]

P = ParamSpec("P")
R = TypeVar("R")


class Kind(enum.Enum):
    """What a link of a fallback chain is, so the chain knows how to get its answer."""

    VALUE = "value"  # a plain value, returned as it is
    SYNC = "sync"  # a sync callable with the protected function's signature
    ASYNC = "async"  # an async callable: only for async calls
    CACHE = "cache"  # a LastGood, looked up without running anything


@dataclass(frozen=True, slots=True)
class Alternative:
    """One link of a fallback chain, built once at construction; a flow step when callable."""

    level: int  # 1 = first alternative
    kind: Kind
    target: Any
    label: str

    @property
    def awaited(self) -> bool:
        """Whether the async driver awaits what ``target`` returns."""
        return self.kind is Kind.ASYNC


class Substitute(Policy):
    """Base of policies that replace a failed call's outcome; subclasses decide, the shell drives.

    Substitutes do not check the deadline on entry: an expired deadline is a
    failure like any other, and answering it is what they are for.
    """

    _guards_deadline: ClassVar[bool] = True

    #: True when ``_succeeded`` would do nothing: the success path then skips the call to it.
    _results_stand: bool = False
    #: True when an alternative is async: a synchronous call cannot use the chain.
    _has_async: bool = False

    def _failed(self, exc: Exception, args: Args, kwargs: Kwargs, box: list[Any]) -> Flow:
        """The flow that answers for ``exc``; raises ``exc`` itself if it is not handled."""
        raise NotImplementedError

    def _succeeded(self, result: object, args: Args, kwargs: Kwargs, box: list[Any]) -> Flow | None:
        """The flow that replaces a rejected ``result``, or None when it stands."""
        raise NotImplementedError

    def _sync_with_async_message(self) -> str:
        return (
            f"{self!r} has an async alternative, which a synchronous call cannot await; "
            "use a sync alternative, or make the protected function async"
        )

    # The flow is driven inside the shell's `except` block on purpose: an alternative sees
    # the failure it replaces as sys.exception().

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if not IS_ASYNC and self._has_async:
            raise TypeError(self._sync_with_async_message())
        failed, succeeded, stand = self._failed, self._succeeded, self._results_stand
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                result = await fn(*args, **kwargs)
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
            except Exception as exc:
                box: list[Any] = [None]
                answer = failed(exc, args, kwargs, box)
                return await adrive(answer, box, fn, args, kwargs, SYSTEM_CLOCK)  # type: ignore[no-any-return]
            if stand:
                return result
            box = [None]
            replace = succeeded(result, args, kwargs, box)
            if replace is None:
                return result
            return await adrive(replace, box, fn, args, kwargs, SYSTEM_CLOCK)  # type: ignore[no-any-return]

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap", adrive="drive")

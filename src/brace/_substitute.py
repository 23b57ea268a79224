"""The shells shared by the policies that answer for a failed call: `Fallback` and `LastGood`.

A subclass makes every decision without running anything. Given the call's
failure, ``_failed`` returns a *flow*: a generator that yields each callable
alternative it wants run, is sent back the outcome, and finally returns the
answer or raises. Given a result, ``_succeeded`` returns a flow when the
result must be replaced, or None when it stands. The sync and asyncio shells
below drive flows; they differ only in how they call (or await) a function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from brace._policy import Args, Kwargs, Policy, refuse_awaitable

__all__ = ["ACALL", "CACHE", "CALL", "VALUE", "Alternative", "Flow", "Substitute"]

R = TypeVar("R")

VALUE: Final = 0  # a plain value, returned as it is
CALL: Final = 1  # a sync callable with the protected function's signature
ACALL: Final = 2  # an async callable: only for async calls
CACHE: Final = 3  # a LastGood, looked up without running anything


@dataclass(frozen=True, slots=True)
class Alternative:
    """One link of a fallback chain, built once at construction."""

    level: int  # 1 = first alternative
    kind: int
    target: Any
    label: str


# What a driver sends back into a flow: (True, result) or (False, exception).
Outcome = tuple[bool, Any]
Flow = Generator[Alternative, Outcome, Any]


class Substitute(Policy):
    """Base of policies that replace a failed call's outcome; subclasses decide, shells drive."""

    #: True when ``_succeeded`` would do nothing: the success path then skips the call to it.
    _results_stand: bool = False

    def _failed(self, exc: Exception, args: Args, kwargs: Kwargs) -> Flow:
        """The flow that answers for ``exc``; raises ``exc`` itself if it is not handled."""
        raise NotImplementedError

    def _succeeded(self, result: object, args: Args, kwargs: Kwargs) -> Flow | None:
        """The flow that replaces a rejected ``result``, or None when it stands."""
        raise NotImplementedError

    def _sync_with_async_message(self) -> str:
        return (
            f"{self!r} has an async alternative, which a synchronous call cannot await; "
            "use a sync alternative, or make the protected function async"
        )

    # The drive runs inside the shell's `except` block on purpose: an alternative sees the
    # failure it replaces as sys.exception().

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        try:
            result = fn(*args, **kwargs)
            if hasattr(result, "__await__"):
                refuse_awaitable(fn, result)
        except Exception as exc:
            answer: R = self._drive(self._failed(exc, args, kwargs), args, kwargs)
            return answer
        flow = None if self._results_stand else self._succeeded(result, args, kwargs)
        kept: R = result if flow is None else self._drive(flow, args, kwargs)
        return kept

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            answer: R = await self._adrive(self._failed(exc, args, kwargs), args, kwargs)
            return answer
        flow = None if self._results_stand else self._succeeded(result, args, kwargs)
        kept: R = result if flow is None else await self._adrive(flow, args, kwargs)
        return kept

    # `outcome` may hold an alternative's exception, whose context is the failure the flow
    # re-raises: dropped on the way out, so no reference cycle runs through this frame.

    def _drive(self, flow: Flow, args: Args, kwargs: Kwargs) -> Any:
        outcome: Any = None  # the first send starts the flow
        try:
            while True:
                alt = flow.send(outcome)
                if alt.kind == ACALL:
                    raise TypeError(self._sync_with_async_message())
                outcome = _call(alt, args, kwargs)
        except StopIteration as stop:
            return stop.value
        finally:
            del outcome

    async def _adrive(self, flow: Flow, args: Args, kwargs: Kwargs) -> Any:
        outcome: Any = None
        try:
            while True:
                outcome = await _acall(flow.send(outcome), args, kwargs)
        except StopIteration as stop:
            return stop.value
        finally:
            del outcome


def _call(alt: Alternative, args: Args, kwargs: Kwargs) -> Outcome:
    try:
        value = alt.target(*args, **kwargs)
        if hasattr(value, "__await__"):
            refuse_awaitable(alt.target, value, direct=True)
    except Exception as exc:
        return False, exc
    return True, value


async def _acall(alt: Alternative, args: Args, kwargs: Kwargs) -> Outcome:
    try:
        value = alt.target(*args, **kwargs)
        return True, (await value if alt.kind == ACALL else value)
    except Exception as exc:
        return False, exc

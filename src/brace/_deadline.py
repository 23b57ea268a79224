"""Deadlines: one time budget that every policy inside it honours.

``with brace.deadline(5.0):`` stores an expiry in a `contextvars` variable, so
it follows the code into asyncio tasks (which copy the context) and into the
worker threads brace starts (which run in a copy of the caller's context).
Nested deadlines keep the earlier expiry. Policies check it when a call
enters them; retries never sleep past it; timeouts shrink to it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Self

from brace import _validate
from brace._clock import SYSTEM_CLOCK, Clock
from brace._errors import TimeoutExceededError

__all__ = ["Deadline", "check_deadline", "current", "deadline", "remaining"]


@dataclass(frozen=True, slots=True)
class _Expiry:
    expires: float  # on clock.monotonic()
    seconds: float  # the budget as given, reported in TimeoutExceededError.timeout
    clock: Clock
    outer: _Expiry | None  # restored when the block that set this one is left

    def left(self) -> float:
        return self.expires - self.clock.monotonic()


_CURRENT: contextvars.ContextVar[_Expiry | None] = contextvars.ContextVar(
    "brace_deadline", default=None
)


class Deadline:
    """A context manager that bounds everything inside it to ``seconds``.

    Create it with `brace.deadline`. The clock starts when the block is
    entered. Leaving the block restores the enclosing deadline, if any.
    The object keeps no per-entry state, so one instance may be entered
    again, nested, and shared by concurrent tasks and threads.
    """

    __slots__ = ("_clock", "seconds")

    def __init__(self, seconds: float | timedelta, *, clock: Clock | None = None) -> None:
        self.seconds = _validate.duration("seconds", seconds)
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock

    def __enter__(self) -> Self:
        outer = _CURRENT.get()
        # Keep whichever ends first; measured now, so deadlines on different clocks compare.
        if outer is not None and outer.left() <= self.seconds:
            node = _Expiry(outer.expires, outer.seconds, outer.clock, outer)
        else:
            node = _Expiry(self._clock.monotonic() + self.seconds, self.seconds, self._clock, outer)
        _CURRENT.set(node)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The node to pop is the one this context entered last: each task and thread has its
        # own context, so concurrent users of one Deadline object never see each other's.
        node = _CURRENT.get()
        _CURRENT.set(None if node is None else node.outer)

    def __repr__(self) -> str:
        return f"brace.deadline({self.seconds!r})"


def deadline(seconds: float | timedelta, *, clock: Clock | None = None) -> Deadline:
    """Bound the enclosed block to ``seconds`` (measured on ``clock``, the system clock by default).

    Every brace policy inside checks it on entry and raises
    `TimeoutExceededError` (``source="deadline"``) once it has passed;
    retries give up rather than sleep past it and timeouts shrink to it.
    A nested deadline never extends an enclosing one.

    Raises:
        ConfigError: ``seconds`` is negative, NaN, infinite or not a duration.
    """
    return Deadline(seconds, clock=clock)


def remaining() -> float | None:
    """Seconds left in the current deadline (0.0 once passed), or ``None`` outside any."""
    current = _CURRENT.get()
    if current is None:
        return None
    return max(current.left(), 0.0)


def current() -> tuple[float, float] | None:
    """``(seconds left, seconds given)`` for the current deadline, or ``None``; for policies."""
    cur = _CURRENT.get()
    if cur is None:
        return None
    return cur.left(), cur.seconds


def check_deadline(policy: str) -> None:
    """Raise `TimeoutExceededError` if the current deadline has passed.

    Every policy calls this when a call enters it, so an expired deadline
    stops the call before anything further in runs.
    """
    cur = _CURRENT.get()
    if cur is not None and cur.clock.monotonic() >= cur.expires:
        raise TimeoutExceededError(
            f"deadline of {cur.seconds:g} s passed before {policy or 'the call'} could start",
            policy=policy,
            timeout=cur.seconds,
            source="deadline",
        )

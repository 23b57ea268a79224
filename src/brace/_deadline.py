"""Deadlines: one time budget that every policy inside it honours.

``with brace.deadline(5.0):`` stores an expiry in a `contextvars` variable, so
it follows the code into asyncio tasks (which copy the context) and into the
worker threads brace starts (which run in a copy of the caller's context).
Nested deadlines keep the earlier expiry. Policies check it when a call
enters them; retries never sleep past it; timeouts shrink to it.

A `brace.Timeout` is a deadline too, for what runs inside it: it installs an
expiry whose ``source`` is ``"timeout"`` when its own limit is the tighter,
so `remaining()` inside it never exceeds the timeout and an error raised on
that expiry says which bound applied.
"""

from __future__ import annotations

import contextvars
from datetime import timedelta
from types import TracebackType
from typing import Literal, Self

from brace import _validate
from brace._clock import Clock
from brace._errors import TimeoutExceededError

__all__ = [
    "Deadline",
    "Expiry",
    "Source",
    "check_deadline",
    "current",
    "deadline",
    "expired_error",
    "remaining",
]

Source = Literal["timeout", "deadline"]


class Expiry:
    """One bound in force: when it expires, on which clock, and what set it.

    A `brace.Timeout` installs a plain `Expiry` on every call, so it keeps to
    the five fields a bound needs; a `brace.deadline` block installs the
    `_Entered` subclass, which also pairs the block's exit with its entry.

    Attributes:
        expires: The instant on ``clock.monotonic()``.
        seconds: The budget as given, reported in `TimeoutExceededError.timeout`.
        clock: Where ``expires`` is measured.
        outer: The bound in force outside this one (restored on exit).
        source: ``"deadline"`` (a `brace.deadline`) or ``"timeout"`` (a `brace.Timeout`).
    """

    __slots__ = ("clock", "expires", "outer", "seconds", "source")

    #: Set on `_Entered` nodes only: the `Deadline` that entered them, the contextvar
    #: token for an exact restore, and whether the block was left out of order.
    owner: object = None
    token: contextvars.Token[Expiry | None] | None = None
    closed: bool = False

    def __init__(
        self, expires: float, seconds: float, clock: Clock, outer: Expiry | None, source: Source
    ) -> None:
        self.expires = expires
        self.seconds = seconds
        self.clock = clock
        self.outer = outer
        self.source: Source = source

    def left(self) -> float:
        """Seconds until the expiry (negative once passed)."""
        return self.expires - self.clock.monotonic()


class _Entered(Expiry):
    """The bound a `Deadline` block installed; see `Expiry`."""

    __slots__ = ("closed", "owner", "token")

    def __init__(  # noqa: PLR0917
        self,
        expires: float,
        seconds: float,
        clock: Clock,
        outer: Expiry | None,
        source: Source,
        owner: object,
    ) -> None:
        super().__init__(expires, seconds, clock, outer, source)
        self.owner = owner
        self.token = None
        self.closed = False


_CURRENT: contextvars.ContextVar[Expiry | None] = contextvars.ContextVar(
    "brace_deadline", default=None
)


class Deadline:
    """A context manager that bounds everything inside it to ``seconds``.

    Create it with `brace.deadline`. The clock starts when the block is
    entered. Leaving the block restores the enclosing deadline, if any.
    The object keeps no per-entry state, so one instance may be entered
    again, nested, and shared by concurrent tasks and threads.

    Blocks must be left in the reverse order they were entered, in the
    context that entered them: leaving one while a deadline entered later is
    still open (for example a deadline entered inside a generator and left
    after the consumer entered its own) raises `RuntimeError` instead of
    silently leaving the wrong deadline in force.
    """

    __slots__ = ("_clock", "seconds")

    def __init__(self, seconds: float | timedelta, *, clock: Clock | None = None) -> None:
        self.seconds = _validate.duration("seconds", seconds)
        self._clock: Clock = _validate.clock("clock", clock)

    def __enter__(self) -> Self:
        outer = _CURRENT.get()
        # Keep whichever ends first; measured now, so deadlines on different clocks compare.
        if outer is not None and outer.left() <= self.seconds:
            node = _Entered(outer.expires, outer.seconds, outer.clock, outer, outer.source, self)
        else:
            now = self._clock.monotonic()
            node = _Entered(now + self.seconds, self.seconds, self._clock, outer, "deadline", self)
        node.token = _CURRENT.set(node)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Each task and thread has its own context, so concurrent users of one Deadline never
        # see each other's nodes; within one context the innermost node must be ours.
        node = _CURRENT.get()
        if node is None or node.owner is not self or node.token is None:
            self._close_out_of_order(node)
            raise RuntimeError(
                f"{self!r} was left out of order: the deadline in force is not the one this "
                "block entered. Deadlines must be left in the reverse order they were entered, "
                "in the same task or thread; a deadline entered inside a generator must be "
                "left before the generator yields"
            )
        try:
            _CURRENT.reset(node.token)
        except ValueError:
            raise RuntimeError(
                f"{self!r} was left in a different context from the one that entered it"
            ) from None
        uncovered = _CURRENT.get()
        if uncovered is not None and uncovered.closed:
            while uncovered is not None and uncovered.closed:
                uncovered = uncovered.outer
            _CURRENT.set(uncovered)  # drop blocks already left out of order

    def _close_out_of_order(self, node: Expiry | None) -> None:
        """Mark this object's innermost open node in ``node``'s chain as left."""
        while node is not None:
            if isinstance(node, _Entered) and node.owner is self and not node.closed:
                node.closed = True
                return
            node = node.outer

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
    """Seconds left in the current deadline (0.0 once passed), or ``None`` outside any.

    Inside a `brace.Timeout` this is the tighter of the timeout's time left
    and the enclosing deadline's, so it can be passed on as a socket timeout.
    """
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


def expired_error(cur: Expiry, policy: str, what: str) -> TimeoutExceededError:
    """The error for ``policy`` finding ``cur`` expired while ``what`` (a phrase)."""
    kind = "timeout" if cur.source == "timeout" else "deadline"
    return TimeoutExceededError(
        f"{kind} of {cur.seconds:g} s passed {what}",
        policy=policy,
        timeout=cur.seconds,
        source=cur.source,
    )


def check_deadline(policy: str) -> None:
    """Raise `TimeoutExceededError` if the current deadline has passed.

    Every policy calls this when a call enters it, so an expired deadline
    stops the call before anything further in runs.
    """
    cur = _CURRENT.get()
    if cur is not None and cur.clock.monotonic() >= cur.expires:
        raise expired_error(cur, policy, f"before {policy or 'the call'} could start")

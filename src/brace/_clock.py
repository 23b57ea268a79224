"""Time as an injected dependency.

Every policy takes ``clock=``; this module is the only place in brace that
touches the `time` module or `asyncio.sleep` (ruff's banned-api rule enforces
it). Policies never sleep through the clock directly: they call `wait` /
`await_wait`, which honour `brace.testing.no_wait`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "await_wait", "wait"]


@runtime_checkable
class Clock(Protocol):
    """Where a policy reads the time and sleeps.

    ``monotonic()`` measures durations; ``wall()`` is seconds since the epoch,
    used only for what crosses processes (``Retry-After`` dates, shared
    stores). ``sleep`` and ``asleep`` block the thread or the task.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, `time.sleep`, `asyncio.sleep`."""

    __slots__ = ()

    # Bound once so the hot path reads the clock without an attribute chain.
    monotonic = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        if seconds > 0:
            # A hint from a server (Retry-After) may exceed what time.sleep accepts.
            time.sleep(min(seconds, threading.TIMEOUT_MAX))

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` (yields to the loop even for 0)."""
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()

# Set by brace.testing.no_wait(); scoped to a context, never process-global.
_NO_WAIT: contextvars.ContextVar[bool] = contextvars.ContextVar("brace_no_wait", default=False)


def wait(clock: Clock, seconds: float) -> None:
    """Sleep on ``clock`` for a policy-chosen wait, unless `no_wait` is active."""
    if not _NO_WAIT.get():
        clock.sleep(seconds)


async def await_wait(clock: Clock, seconds: float) -> None:
    """Asynchronously sleep on ``clock`` for a policy-chosen wait, unless `no_wait` is active."""
    if _NO_WAIT.get():
        # Still a checkpoint, so a cancelled caller stops here as it would in a real sleep.
        await SYSTEM_CLOCK.asleep(0)
    else:
        await clock.asleep(seconds)

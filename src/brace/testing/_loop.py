"""An asyncio event loop whose time is a `VirtualClock`'s.

The loop is a stock `asyncio.SelectorEventLoop` with two changes: ``time()``
reads the virtual clock, and the selector, instead of blocking until the next
timer is due, moves the clock to that timer and returns at once. Everything
built on loop timers (`asyncio.sleep`, `asyncio.timeout`, `asyncio.wait_for`,
``call_later``) and everything that reads the clock (brace policies given the
same ``clock=``) therefore share one timeline that jumps forward whenever
every task is waiting. Nothing else about asyncio changes, so its scheduling
order, and with it a simulation's result, is deterministic.
"""

from __future__ import annotations

import asyncio
import selectors
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from brace.testing._clock import VirtualClock

__all__ = ["VirtualEventLoop", "run"]

T = TypeVar("T")

# asyncio caps one select() wait at a day; a wait that long jumps in day-sized steps.
_MAX_JUMP = 24 * 3600.0


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that turns "block for ``timeout``" into "advance the clock by it".

    Callbacks from other threads (``call_soon_threadsafe``) land in the loop's
    ready queue directly, so the real selector is only consulted when a file
    descriptor besides the loop's self-pipe is registered, or when nothing at
    all is scheduled (then it blocks, waiting for another thread, as a real
    loop would).
    """

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock
        self._loop: weakref.ref[VirtualEventLoop] | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            return super().select(None)
        # More than the self-pipe registered: real I/O may be pending, poll it without waiting.
        if len(self.get_map()) > 1:
            events = super().select(0)
            if events:
                return events
        if timeout > 0:
            self._jump(timeout)
        return []

    def _jump(self, timeout: float) -> None:
        clock = self._clock
        target = clock._now + timeout
        loop = self._loop() if self._loop is not None else None
        scheduled = getattr(loop, "_scheduled", None)
        if scheduled and timeout < _MAX_JUMP:
            # Land exactly on the timer asyncio is waiting for, not on now + (when - now),
            # which may miss it by one ulp and print 0.30000000000000004 in a user's test.
            target = scheduled[0].when()
        with clock._lock:
            clock._now = max(clock._now, target)


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop that runs in a `VirtualClock`'s time.

    When every task is waiting, the clock jumps to the next scheduled wake-up
    instead of the loop sleeping, so an hour of timeouts, retries and sleeps
    runs in milliseconds. ``loop.time()`` is ``clock.monotonic()``; brace
    policies given the same clock, `asyncio.sleep`, `asyncio.timeout` and
    `asyncio.wait_for` all see one time. Use it through `brace.testing.run`,
    or as ``asyncio.Runner(loop_factory=VirtualEventLoop)``.

    Work handed to threads (``run_in_executor``) runs in real time: the
    virtual clock does not wait for it while timers are pending.

    Args:
        clock: The clock to run on. Default: a new `VirtualClock` at 0.
    """

    clock: VirtualClock

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = VirtualClock() if clock is None else clock
        selector = _VirtualSelector(self.clock)
        super().__init__(selector)
        selector._loop = weakref.ref(self)
        # Read by VirtualClock.asleep: on this loop, its sleeps become loop timers.
        self._brace_virtual_clock = self.clock

    def time(self) -> float:
        """The virtual clock's current time."""
        return self.clock._now


def run(main: Coroutine[Any, Any, T], clock: VirtualClock | None = None) -> T:
    """Run the coroutine ``main`` to completion on a `VirtualEventLoop` and return its result.

    Like `asyncio.run`, in virtual time: sleeps, timeouts and brace policies
    using ``clock`` take no real time. Pass the same ``clock`` to the
    policies under test to read or assert the time afterwards.

    Args:
        main: The coroutine to run.
        clock: The `VirtualClock` the loop runs on. Default: a new one at 0.
    """
    virtual = VirtualClock() if clock is None else clock
    with asyncio.Runner(loop_factory=lambda: VirtualEventLoop(virtual)) as runner:
        return runner.run(main)

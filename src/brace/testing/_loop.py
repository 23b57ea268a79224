"""An asyncio event loop whose time is a `VirtualClock`'s.

The loop is an `asyncio.SelectorEventLoop` whose ``time()`` reads the
virtual clock and whose iteration, instead of blocking until the next timer
is due, moves the clock to that timer at once. Everything built on loop
timers (`asyncio.sleep`, `asyncio.timeout`, `asyncio.wait_for`,
``call_later``) and everything that reads the clock (brace policies given the
same ``clock=``) therefore share one timeline that jumps forward whenever
every task is waiting.

Work handed to real threads is the one thing the loop cannot jump over: a call
in an executor (`asyncio.to_thread`, ``run_in_executor``) and the default
executor's shutdown take real time the virtual clock knows nothing about. The
loop counts them and, while any is outstanding, waits for real (in ``select``)
instead of moving the clock, so no timer fires early because a thread was slow.

Timers live in a heap of ``(when, sequence, handle)`` tuples, which the heap
compares in C (asyncio's own heap calls a Python ``__lt__`` per comparison),
and equal times run in the order they were scheduled, so a simulation's
result is deterministic.

Performance only: outside debug mode, ``call_soon`` and ``call_at`` set their
handles' fields themselves (`_Handle`, `_TimerHandle`: asyncio's fields,
without its per-handle debug check and calls), and timers cancel with a lean
``cancel``: the simulator creates a few handles per simulated request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import itertools
from asyncio import events
from collections.abc import Callable, Coroutine
from contextvars import Context, copy_context
from typing import Any, TypeVar, TypeVarTuple

from brace.testing._clock import VirtualClock

__all__ = ["VirtualEventLoop", "run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Rebuild the heap once more than half of at least this many timers are cancelled
# (asyncio's own policy), so cancelled timeouts do not pile up.
_MIN_CANCELLED = 100


# -- performance only: lean handles (see the module docstring) ------------------------------


class _Handle(events.Handle):
    """An `asyncio.Handle` built by `VirtualEventLoop.call_soon` without ``__init__``."""

    __slots__ = ()


class _TimerHandle(events.TimerHandle):
    """An `asyncio.TimerHandle` built by `VirtualEventLoop.call_at`, with a lean ``cancel``."""

    __slots__ = ()

    def cancel(self) -> None:
        # TimerHandle.cancel without the debug-mode repr; the loop counts it for purging.
        handle: Any = self  # asyncio's private handle fields, which typeshed does not declare
        if not handle._cancelled:
            if handle._scheduled:
                handle._loop._timer_cancelled_count += 1
            handle._cancelled = True
            handle._callback = None
            handle._args = None


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop that runs in a `VirtualClock`'s time.

    When every task is waiting, the clock jumps to the next scheduled wake-up
    instead of the loop sleeping, so an hour of timeouts, retries and sleeps
    runs in milliseconds. ``loop.time()`` is ``clock.monotonic()``; brace
    policies given the same clock, `asyncio.sleep`, `asyncio.timeout` and
    `asyncio.wait_for` all see one time. Use it through `brace.testing.run`,
    or as ``asyncio.Runner(loop_factory=VirtualEventLoop)``.

    Work on real threads holds virtual time still until it reports back: a
    call in an executor (`asyncio.to_thread`, ``run_in_executor``, with the
    default or any other executor) counts from submission until its thread
    finishes, even if its awaiter was cancelled, and the default executor's
    shutdown counts until its threads are joined. Meanwhile the loop runs
    what is ready and otherwise waits for the thread in real time, so a short
    `asyncio.timeout` around slow thread work does not fire, and shutting the
    executor down takes no virtual time. A thread must therefore not itself
    wait for virtual time to pass on the loop (say, block on
    ``run_coroutine_threadsafe(...).result()`` of a coroutine that sleeps):
    the two would wait for each other. A thread started some other way is
    invisible to the loop: its ``call_soon_threadsafe`` callbacks wake an
    idle loop, but the clock does not wait for them.

    Args:
        clock: The clock to run on. Default: a new `VirtualClock` at 0.
    """

    clock: VirtualClock

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = VirtualClock() if clock is None else clock
        # Any: asyncio's private handle fields (_scheduled) are not in typeshed.
        self._timers: list[tuple[float, int, Any]] = []
        self._sequence = itertools.count()
        # Work running on real threads that virtual time waits for; touched on the loop thread only.
        self._threads = 0
        super().__init__()
        # The selector's fd table (a dict, so len() is cheap); a live view if it has none.
        selector: Any = self._selector  # type: ignore[attr-defined]
        self._fds: Any = getattr(selector, "_fd_to_key", None) or selector.get_map()
        # Read by VirtualClock.asleep: on this loop, its sleeps become loop timers.
        self._brace_virtual_clock = self.clock

    def time(self) -> float:
        """The virtual clock's current time."""
        return self.clock._now

    def call_at(
        self,
        when: float,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule ``callback(*args)`` at virtual time ``when``."""
        base: Any = self
        if base._closed or base._debug:
            self._check_closed()  # type: ignore[attr-defined]
            timer: Any = asyncio.TimerHandle(when, callback, args, self, context)
        else:
            # TimerHandle.__init__'s fields, set here without its debug-mode check.
            timer = _TimerHandle.__new__(_TimerHandle)
            timer._context = copy_context() if context is None else context
            timer._loop, timer._callback, timer._args, timer._when = self, callback, args, when
            timer._cancelled, timer._repr, timer._source_traceback = False, None, None
        timer._scheduled = True
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer  # type: ignore[no-any-return]

    def call_soon(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.Handle:
        """Schedule ``callback(*args)`` for the next iteration (asyncio's, with a lean handle)."""
        base: Any = self
        if base._closed or base._debug:
            return super().call_soon(callback, *args, context=context)
        # Handle.__init__'s fields, set here without its debug-mode check.
        handle: Any = _Handle.__new__(_Handle)
        handle._context = copy_context() if context is None else context
        handle._loop, handle._callback, handle._args = self, callback, args
        handle._cancelled, handle._repr, handle._source_traceback = False, None, None
        base._ready.append(handle)
        return handle  # type: ignore[no-any-return]

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*Ts], T],
        *args: *Ts,
    ) -> asyncio.Future[T]:
        """Run ``func(*args)`` in ``executor`` (default: the loop's thread pool).

        As `asyncio.AbstractEventLoop.run_in_executor`, and virtual time stands
        still from now until the call has finished on its thread.
        """
        # asyncio's own method, which keeps the executor's future to itself: the hold needs it.
        base: Any = self
        self._check_closed()  # type: ignore[attr-defined]
        if self.get_debug():
            base._check_callback(func, "run_in_executor")
        if executor is None:
            base._check_default_executor()
            if base._default_executor is None:
                base._default_executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix="asyncio"
                )
            executor = base._default_executor
        work = executor.submit(func, *args)
        future = asyncio.wrap_future(work, loop=self)
        self._threads += 1
        # Added after wrap_future's own callback, so the result is on the loop before the hold ends.
        work.add_done_callback(self._thread_finished)
        return future

    async def shutdown_default_executor(self, *args: Any) -> None:
        """Shut the default executor down, holding virtual time until its threads are joined.

        Joining takes real time, and Python 3.13 bounds it with an
        `asyncio.timeout` (``args`` is passed through: 3.12+ take a
        ``timeout``), which in virtual time would otherwise expire at once.
        """
        self._threads += 1
        try:
            await super().shutdown_default_executor(*args)
        finally:
            self._threads -= 1

    def _thread_finished(self, _work: concurrent.futures.Future[Any]) -> None:
        # Runs on the worker thread (or here, if the work was cancelled before it started).
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is left to hold
            self.call_soon_threadsafe(self._release_thread)

    def _release_thread(self) -> None:
        self._threads -= 1

    def close(self) -> None:
        """Close the loop and drop every pending timer."""
        super().close()
        self._timers.clear()

    def _run_once(self) -> None:
        # One iteration of BaseEventLoop._run_once, with the select() wait replaced by a jump
        # of the virtual clock to the earliest timer.
        base: Any = self  # asyncio's private loop state, which typeshed does not declare
        timers = self._timers
        if base._timer_cancelled_count > _MIN_CANCELLED:
            timers = self._purge_cancelled()
        while timers and timers[0][2]._cancelled:
            base._timer_cancelled_count -= 1
            heapq.heappop(timers)[2]._scheduled = False
        ready = base._ready
        clock = self.clock
        # Nothing to run now: what comes next is a future timer or a callback from a thread.
        idle = not ready and not base._stopping and (not timers or timers[0][0] > clock._now)
        if idle and (not timers or self._threads):
            # Only a thread can make progress (and work on threads holds the clock): wait for
            # its callback for real.
            base._process_events(base._selector.select(None))
        elif len(self._fds) > 1:
            # Sockets besides the self-pipe are registered: poll them, never wait.
            base._process_events(base._selector.select(0))
        if idle and timers and not ready and not self._threads:
            with clock._lock:
                clock._now = max(clock._now, timers[0][0])
        now = clock._now
        while timers and timers[0][0] <= now:
            timer = heapq.heappop(timers)[2]
            timer._scheduled = False
            ready.append(timer)
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()
        handle = None  # break the cycle with a failed callback's traceback

    def _purge_cancelled(self) -> list[tuple[float, int, Any]]:
        # Rebuild the heap without cancelled timers once they are the majority.
        base: Any = self
        timers = self._timers
        if base._timer_cancelled_count * 2 <= len(timers):
            return timers
        kept = []
        for entry in timers:
            if entry[2]._cancelled:
                entry[2]._scheduled = False
            else:
                kept.append(entry)
        heapq.heapify(kept)
        self._timers = kept
        base._timer_cancelled_count = 0
        return kept


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

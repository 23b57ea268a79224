"""Timeout: bound one call to ``seconds`` or the remaining deadline, whichever is sooner.

asyncio: the call runs under `asyncio.timeout`, which is real structured
cancellation: the awaited work sees `asyncio.CancelledError` at its current
``await`` and brace waits for it to unwind. Only brace's own expiry becomes
`TimeoutExceededError`; a cancellation from outside stays `CancelledError`.

Threads: Python cannot interrupt a running thread. The sync driver runs the
call on a worker thread, in a copy of the caller's `contextvars` context (so
the deadline and other context variables follow), and stops *waiting* at the
limit. The abandoned call runs on in the background; its result is dropped
and counted. Each Timeout bounds how many abandoned calls may still be
running (``max_abandoned``) and rejects new calls past it, so a hung
dependency cannot pile up threads without end. Prefer cooperative timeouts
(`brace.deadline`, which integrations turn into socket timeouts) where the
callee supports them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace import _validate
from brace._calls import refuse_awaitable, shell
from brace._clock import Clock, SystemClock
from brace._deadline import _CURRENT, Expiry, Source, check_deadline
from brace._errors import BulkheadFullError, TimeoutExceededError
from brace._events import BulkheadFull, TimedOut, emit
from brace._policy import Args, Kwargs, Policy
from brace._waiting import Alarm, block_until
from brace._workers import Job, submit

__all__ = ["Timeout", "TimeoutMetrics"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TimeoutMetrics:
    """A snapshot of a `Timeout`.

    Attributes:
        timed_out: Calls that ran out of time so far.
        abandoned: Sync calls left running in the background so far.
        abandoned_running: Abandoned sync calls still running now.
        rejected: Sync calls refused because ``max_abandoned`` were still running.
    """

    timed_out: int
    abandoned: int
    abandoned_running: int
    rejected: int


class Timeout(Policy):
    """Give each call at most ``seconds``, or the remaining deadline if that is sooner.

    When time runs out the call fails with `TimeoutExceededError` (a builtin
    `TimeoutError` too), whose ``.timeout`` is the limit that applied and
    ``.source`` says whether this timeout (``"timeout"``) or an enclosing
    `brace.deadline` (``"deadline"``) was the tighter. Inside a `Retry` it
    bounds each attempt. Async calls are cancelled; sync calls are abandoned
    on a worker thread (see the module documentation).

    The timeout is also a deadline for what runs inside it: there,
    `brace.remaining()` is the tighter of this timeout's time left and the
    enclosing deadline's, so ``timeout=brace.remaining()`` hands it on to a
    client library, and inner policies stop at it too.

    Args:
        seconds: The limit, > 0 and finite (float or timedelta). Required.
        name: Used in errors, events and metrics. Default ``"timeout"``.
        max_abandoned: Worker threads this Timeout may keep busy at once for
            sync calls, running or abandoned (>= 1). Every call in flight
            counts, since any of them may be abandoned, so at most this many
            threads can ever be left behind by a hung dependency; past it new
            sync calls raise `BulkheadFullError`. Set it at least as high as
            the concurrency you expect (a Bulkhead's ``max_concurrent``).
            Default 32.
        clock: Where the limit is measured. Default the system clock. Async
            expiry is an event loop timer when the loop keeps the clock's time
            (the system clock, or a `brace.testing.VirtualEventLoop` bound to
            this clock); on any other loop the clock is re-read every 10 ms
            of loop time.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self,
        seconds: float | timedelta,
        *,
        name: str | None = None,
        max_abandoned: int = 32,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(name)
        self.seconds = _validate.duration("seconds", seconds, allow_zero=False)
        self.max_abandoned = _validate.positive_int("max_abandoned", max_abandoned)
        self._clock: Clock = _validate.clock("clock", clock)
        self._system = isinstance(self._clock, SystemClock)
        self._lock = threading.Lock()
        self._timed_out = 0
        self._abandoned = 0
        self._abandoned_running = 0
        self._busy = 0  # sync calls on worker threads: in flight or abandoned, still running
        self._rejected = 0

    def _config(self) -> dict[str, object]:
        return {"seconds": self.seconds, "max_abandoned": self.max_abandoned}

    def metrics(self) -> TimeoutMetrics:
        """A snapshot: timed out, abandoned (total), abandoned still running, rejected."""
        with self._lock:
            return TimeoutMetrics(
                self._timed_out, self._abandoned, self._abandoned_running, self._rejected
            )

    # -- the decision -----------------------------------------------------------------

    def _bound(self) -> tuple[Expiry | None, float, Expiry | None]:
        """``(bound to install inside the call, seconds to allow, deadline that set them)``.

        The inner bound is this timeout's own (a new `Expiry` with source
        ``"timeout"``) unless the enclosing bound ends first, in which case it
        stays in force (``None``: nothing to install). A deadline that ends
        first shrinks this call's limit to it (a deadline has no timer of its
        own); an enclosing Timeout that ends first fires by itself.
        """
        cur = _CURRENT.get()
        if cur is not None:
            left = cur.left()
            if left < self.seconds:
                if cur.source == "timeout":
                    # An enclosing Timeout ends first and enforces that itself: keep its bound
                    # in force inside, and time this call on our own limit only.
                    return None, self.seconds, None
                return None, max(left, 0.0), cur
        clock = self._clock
        mine = Expiry(clock.monotonic() + self.seconds, self.seconds, clock, cur, "timeout")
        return mine, self.seconds, None

    def _timed_out_error(self, applied: Expiry | None) -> TimeoutExceededError:
        """Count a call that ran out of time; ``applied`` is the enclosing bound, if tighter."""
        with self._lock:
            self._timed_out += 1
        source: Source = "timeout" if applied is None else applied.source
        reported = self.seconds if applied is None else applied.seconds
        if self._listeners.active:
            emit(self._listeners, TimedOut(self.name, reported, source))
        what = "timeout" if source == "timeout" else "deadline"
        return TimeoutExceededError(
            f"call under {self.name!r} ran out of time: {what} of {reported:g} s",
            policy=self.name,
            timeout=reported,
            source=source,
        )

    # -- asyncio ----------------------------------------------------------------------

    def _awrap(  # noqa: C901 - one flat shell: a helper call would cost on every call
        self, fn: Callable[P, Awaitable[R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        name, seconds, timed_out, clock = (
            self.name,
            self.seconds,
            self._timed_out_error,
            self._clock,
        )
        monotonic, current, system = clock.monotonic, _CURRENT, self._system

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            # The bound is worked out inline (see `_bound`): the common case pays one
            # contextvar read.
            outer = current.get()
            limit, mine = seconds, True
            if outer is not None:
                check_deadline(name)
                left = outer.left()
                if left < seconds:
                    mine = False  # the enclosing bound stays in force inside
                    if outer.source == "deadline":
                        limit = left
            # Under a clock the loop does not keep, the scope has no timer of its own: an
            # alarm expires it, so cancellation stays structured either way.
            alarm = None if system else _alarm(clock)
            token = None
            if mine:  # this timeout is the tighter: a deadline for the call
                token = current.set(Expiry(monotonic() + seconds, seconds, clock, outer, "timeout"))
            try:
                async with asyncio.timeout(limit if alarm is None else None) as scope:
                    if alarm is not None:
                        alarm.start(alarm.now() + limit, functools.partial(_expire, scope))
                    return await fn(*args, **kwargs)
            except TimeoutError:
                if scope.expired():
                    raise timed_out(None if limit is seconds else outer) from None
                raise
            finally:
                if token is not None:
                    current.reset(token)
                if alarm is not None:
                    alarm.cancel()

        return shell(wrapped)

    # -- threads ----------------------------------------------------------------------

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        name, run = self.name, self._run_on_worker

        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            return run(fn, args, kwargs)

        return shell(wrapped)

    def _run_on_worker(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` on a worker thread and wait for it, at most the limit."""
        mine, limit, applied = self._bound()
        context = contextvars.copy_context()
        if mine is not None:
            context.run(_CURRENT.set, mine)  # the worker's copy sees this timeout's deadline
        job: Job[R] = Job(context, fn, args, kwargs, self._worker_done)
        counted = False
        try:
            with self._lock:
                busy = self._busy
                if busy < self.max_abandoned:
                    counted = True
                    self._busy = busy + 1
                else:
                    self._rejected += 1
            if not counted:
                raise self._too_many(busy)
            expiry = self._clock.monotonic() + limit  # before the call, which may move the clock
            submit(job)
            if block_until(job.done.acquire, self._clock, expiry, poll=not self._system):
                result = job.outcome()
            elif self._leave(job):
                raise self._timed_out_error(applied)
            else:
                result = job.outcome()  # finished just as the limit passed
        except BaseException:
            if counted:
                self._leave(job)  # Ctrl-C, or the call's own exception: _leave sorts it out
            raise
        finally:
            del job
        if hasattr(result, "__await__"):
            refuse_awaitable(fn, result)
        return result

    def _leave(self, job: Job[Any]) -> bool:
        """Stop waiting for ``job``; False if it had finished (its outcome stands).

        A job that never started is withdrawn (it will not run); one that is
        running is left to finish in the background (abandoned) and counted.
        Idempotent.
        """
        with job.lock:
            if job.finished:
                return False
            if job.withdrawn or job.abandoned:
                return True
            if not job.started:
                job.withdrawn = True
            else:
                job.abandoned = True
                with self._lock:
                    self._abandoned += 1
                    self._abandoned_running += 1
                return True
        self._worker_done(abandoned=False)  # withdrawn: no worker will report it
        return True

    def _worker_done(self, *, abandoned: bool) -> None:
        with self._lock:
            self._busy -= 1
            if abandoned:
                self._abandoned_running -= 1

    def _too_many(self, busy: int) -> BulkheadFullError:
        self._listeners.rejected()  # telemetry: count, now and then summarise in the log
        if self._listeners.active:
            emit(self._listeners, BulkheadFull(self.name, busy, 0))
        return BulkheadFullError(
            f"timeout {self.name!r} refused the call: {busy} sync calls already occupy its "
            f"worker threads, running or timed out and still running in the background "
            f"(max_abandoned={self.max_abandoned})",
            policy=self.name,
        )


def _alarm(clock: Clock) -> Alarm | None:
    """An alarm for a scope under ``clock``, or None when the running loop keeps its time."""
    alarm = Alarm(asyncio.get_running_loop(), clock)
    return None if alarm.on_loop else alarm


def _expire(scope: asyncio.Timeout) -> None:
    scope.reschedule(asyncio.get_running_loop().time())

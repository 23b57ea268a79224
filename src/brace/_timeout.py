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
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from brace import _validate
from brace._clock import Clock, SystemClock
from brace._deadline import _CURRENT, Expiry, Source, check_deadline
from brace._errors import BulkheadFullError, TimeoutExceededError
from brace._events import BulkheadFull, TimedOut, emit
from brace._policy import Args, Kwargs, Policy, refuse_awaitable, shell
from brace._waiting import Alarm, block_until

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
        mine = Expiry(clock.monotonic() + self.seconds, self.seconds, clock, cur, "timeout", self)
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

    async def _arun(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        mine, limit, applied = self._bound()
        alarm: Alarm | None = None
        if not self._system:
            alarm = Alarm(asyncio.get_running_loop(), self._clock)
            if alarm.on_loop:
                alarm = None  # loop time is this clock's: asyncio.timeout's own timer is exact
        token = None if mine is None else _CURRENT.set(mine)
        try:
            # Under a clock the loop does not keep, the scope has no timer of its own: the
            # alarm expires it, so cancellation stays structured either way.
            async with asyncio.timeout(limit if alarm is None else None) as scope:
                if alarm is not None:
                    alarm.start(alarm.now() + limit, functools.partial(_expire, scope))
                return await fn(*args, **kwargs)
        except TimeoutError:
            if scope.expired():
                raise self._timed_out_error(applied) from None
            raise
        finally:
            if token is not None:
                _CURRENT.reset(token)
            if alarm is not None:
                alarm.cancel()

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if not self._system:
            return super()._awrap(fn)
        name, seconds, timed_out = self.name, self.seconds, self._timed_out_error
        monotonic, clock, current = self._clock.monotonic, self._clock, _CURRENT

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            # Inlined _arun for the system clock: the common case pays one contextvar read.
            outer = current.get()
            limit, mine = seconds, True
            if outer is not None:
                check_deadline(name)
                left = outer.left()
                if left < seconds:
                    mine = False  # the enclosing bound stays in force inside: see _bound
                    if outer.source == "deadline":
                        limit = left
            token = None
            if mine:  # this timeout is the tighter: a deadline for the call
                now = monotonic()
                token = current.set(Expiry(now + seconds, seconds, clock, outer, "timeout", self))
            try:
                async with asyncio.timeout(limit) as scope:
                    return await fn(*args, **kwargs)
            except TimeoutError:
                if scope.expired():
                    raise timed_out(None if limit is seconds else outer) from None
                raise
            finally:
                if token is not None:
                    current.reset(token)

        return shell(wrapped)

    # -- threads ----------------------------------------------------------------------

    def _run(self, fn: Callable[..., R], args: Args, kwargs: Kwargs) -> R:
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


def _expire(scope: asyncio.Timeout) -> None:
    scope.reschedule(asyncio.get_running_loop().time())


# -- the worker threads behind sync timeouts ---------------------------------------------

#: Idle worker threads kept for reuse, and how long (real seconds) one waits for work.
MAX_IDLE_WORKERS = 32
IDLE_SECONDS = 30.0


class _OnDone(Protocol):
    def __call__(self, *, abandoned: bool) -> None: ...


class Job(Generic[R]):
    """One sync call handed to a worker thread, and its outcome.

    ``lock`` orders the worker's "started" and "finished" against the
    caller's "withdrawn" (it stopped waiting before the job started: the job
    never runs) and "abandoned" (it stopped waiting while the job ran).
    ``on_done(abandoned)`` runs once, after a job that started has finished.
    """

    __slots__ = (
        "abandoned",
        "args",
        "context",
        "done",
        "error",
        "finished",
        "fn",
        "kwargs",
        "lock",
        "on_done",
        "result",
        "started",
        "withdrawn",
    )

    def __init__(
        self,
        context: contextvars.Context,
        fn: Callable[..., R],
        args: Args,
        kwargs: Kwargs,
        on_done: _OnDone,
    ) -> None:
        self.context = context
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.on_done = on_done
        self.lock = threading.Lock()
        self.done = threading.Lock()  # released when the outcome is ready
        self.done.acquire()
        self.started = self.finished = self.withdrawn = self.abandoned = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def execute(self) -> None:
        with self.lock:
            if self.withdrawn:
                return
            self.started = True
        try:
            self.result = self.context.run(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # handed to the caller's thread as is
            self.error = exc
        with self.lock:
            self.finished = True
            abandoned = self.abandoned
            if abandoned:
                self.result = self.error = None  # dropped: nobody is waiting
        self.on_done(abandoned=abandoned)
        if not abandoned:
            self.done.release()

    def outcome(self) -> R:
        error = self.error
        if error is None:
            return self.result  # type: ignore[return-value]
        self.error = None
        try:
            raise error
        finally:
            del error  # no reference cycle through this frame in the traceback


class _Worker:
    """A daemon thread that runs jobs, parking between them (so a hung call never blocks exit)."""

    __slots__ = ("job", "wake")

    def __init__(self, job: Job[Any]) -> None:
        self.job: Job[Any] | None = job
        self.wake = threading.Lock()
        self.wake.acquire()
        threading.Thread(target=self._loop, name="brace-timeout-worker", daemon=True).start()

    def _loop(self) -> None:
        while (job := self.job) is not None:
            self.job = None
            job.execute()
            del job
            self._park()

    def _park(self) -> None:
        # A wake-up sent after we stopped waiting for it (see below) must not wake the next park.
        self.wake.acquire(blocking=False)
        with _POOL_LOCK:
            if len(_IDLE) >= MAX_IDLE_WORKERS:
                return
            _IDLE.append(self)
        if self.wake.acquire(timeout=IDLE_SECONDS):
            return
        with _POOL_LOCK:
            if self in _IDLE:  # nobody picked us: retire
                _IDLE.remove(self)
                return
        # Picked: `submit` hands over the job before taking us off the list, so it is here,
        # and the wake-up follows unless the submitter was interrupted before sending it.
        while self.job is None:
            self.wake.acquire(timeout=IDLE_SECONDS)


_POOL_LOCK = threading.Lock()
_IDLE: list[_Worker] = []


def submit(job: Job[Any]) -> None:
    """Run ``job`` on an idle worker thread, or on a new one.

    The job is handed over before the worker leaves the idle list, so an
    interrupt (Ctrl-C) in between never strands a worker without its job.
    """
    with _POOL_LOCK:
        if _IDLE:
            worker: _Worker | None = _IDLE[-1]
            worker.job = job  # type: ignore[union-attr]
            _IDLE.pop()
        else:
            worker = None
    if worker is None:
        _Worker(job)
    else:
        worker.wake.release()

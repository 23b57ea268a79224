"""Hedge: when a call is slow, start another attempt; the first success wins.

Asyncio only. The decisions that need no event loop live in `_Delays` (how
long to wait before hedging: a fixed delay, or a percentile of recent
latencies over a bounded window) and in `Hedge._may_launch` (is there an
extra attempt left, and does the retry budget allow it). The driver, `_Race`,
runs attempts as tasks that wake the caller through one future, with the
hedge delay as one loop timer, so on `brace.testing.run`'s virtual-time loop
a hedge starts at the exact virtual instant; latencies are measured on the
policy's clock.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from brace import _validate
from brace._calls import shell
from brace._clock import Clock
from brace._errors import ConfigError, set_note
from brace._events import BudgetExhausted, Event, emit
from brace._policy import Args, Kwargs, Policy

__all__ = ["Hedge", "HedgeBudget", "HedgeStarted"]

P = ParamSpec("P")
R = TypeVar("R")

#: The most latencies a percentile delay is computed over (memory is one float per sample).
MAX_WINDOW = 1_000_000

_PERCENTILE = re.compile(r"p(\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class HedgeStarted(Event):
    """A `Hedge` started attempt ``attempt`` (2 = the first extra); ``delay`` was its hedge delay.

    The attempt started because ``delay`` seconds passed with no attempt
    finished, or earlier, because every attempt that had finished failed.
    """

    attempt: int
    delay: float


class HedgeBudget(Protocol):
    """What `Hedge` needs from a budget such as `brace.RetryBudget`."""

    def deposit(self) -> None:
        """Count one original request."""

    def try_withdraw(self) -> bool:
        """Take one extra-attempt token; False when the budget is spent."""
        ...


def _parse_delay(delay: object) -> tuple[float | None, float | None]:
    """``(fixed seconds, None)`` or ``(None, quantile in (0, 1))``."""
    if isinstance(delay, str):
        match = _PERCENTILE.fullmatch(delay)
        percent = float(match.group(1)) if match else math.nan
        if not 0 < percent < 100:
            raise ConfigError(
                f"delay={delay!r} is not allowed; expected seconds >= 0 or a latency "
                "percentile such as 'p95' or 'p99' (strictly between p0 and p100)"
            )
        return None, percent / 100
    return _validate.duration("delay", delay), None


class _Delays:
    """How long to wait before the next attempt: fixed, or a percentile of recent latencies.

    The recent latencies are kept twice, in arrival order (to evict the
    oldest) and sorted (to read the percentile in O(1)); ``record`` costs
    O(log window) comparisons and one O(window) memmove. Safe to share between
    threads and event loops.
    """

    __slots__ = ("_cached", "_lock", "_recent", "_sorted", "fixed", "initial", "min_samples", "q")

    def __init__(
        self, fixed: float | None, q: float | None, window: int, min_samples: int, initial: float
    ) -> None:
        self.fixed = fixed
        self.q = q
        self.min_samples = min_samples
        self.initial = initial
        self._recent: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []
        self._cached = initial
        self._lock = threading.Lock()

    def current(self) -> float:
        return self._cached if self.fixed is None else self.fixed

    def record(self, seconds: float) -> None:
        if self.q is None:
            return
        sample = max(seconds, 0.0)
        with self._lock:
            recent, ordered = self._recent, self._sorted
            if len(recent) == recent.maxlen:
                del ordered[bisect.bisect_left(ordered, recent[0])]
            recent.append(sample)
            bisect.insort(ordered, sample)
            count = len(ordered)
            if count >= self.min_samples:
                # Nearest-rank percentile: the smallest sample with at least q of them at or below.
                self._cached = ordered[max(math.ceil(self.q * count) - 1, 0)]


class Hedge(Policy):
    """If a call has not finished after ``delay``, start another attempt; the first success wins.

    Attempts run as asyncio tasks with the same arguments. The first to
    succeed answers; the others are cancelled and awaited before the call
    returns, so nothing is left running. An attempt that fails before
    ``delay`` starts the next one at once. When every attempt has failed,
    the last failure is raised with a note. When the caller is cancelled,
    every attempt is cancelled and awaited.

    Hedging only suits idempotent calls: two attempts may both reach the
    dependency. It needs asyncio; decorating a synchronous function raises
    `TypeError`.

    Args:
        delay: Seconds (or ``timedelta``) to wait before hedging, >= 0; or
            ``"p95"``, ``"p99"``, ``"p99.9"``...: that percentile of the
            latencies of recent attempts (successes, and attempts cancelled
            because another won, counted at the time they were cancelled).
        max_extra: Extra attempts at most, >= 1. Default 1.
        budget: Where extra attempts draw tokens (``deposit()`` per call,
            ``try_withdraw()`` per extra attempt), e.g. a `brace.RetryBudget`;
            when it refuses, the call waits for the attempts already running.
            Default ``None`` (no budget).
        min_samples: With a percentile delay, latencies needed before the
            percentile is used. Default 20.
        initial_delay: With a percentile delay, the delay used until then.
            Default 1.0.
        window: With a percentile delay, how many recent latencies it is
            computed over. Default 1000.
        clock: Where latencies are measured. Default: the system clock.
        name: Used in events and notes. Default ``"hedge"``.
    """

    def __init__(
        self,
        delay: float | timedelta | str,
        *,
        max_extra: int = 1,
        budget: HedgeBudget | None = None,
        min_samples: int = 20,
        initial_delay: float | timedelta = 1.0,
        window: int = 1000,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        fixed, q = _parse_delay(delay)
        samples = _validate.positive_int("min_samples", min_samples, maximum=MAX_WINDOW)
        size = _validate.positive_int("window", window, minimum=samples, maximum=MAX_WINDOW)
        initial = _validate.duration("initial_delay", initial_delay)
        self._delays = _Delays(fixed, q, size, samples, initial)
        self._delay_spec = delay
        self._max_extra = _validate.positive_int("max_extra", max_extra)
        if budget is not None and not (
            callable(getattr(budget, "deposit", None))
            and callable(getattr(budget, "try_withdraw", None))
        ):
            raise ConfigError(
                f"budget={budget!r} is not allowed; expected an object with deposit() and "
                "try_withdraw() such as brace.RetryBudget, or None"
            )
        self._budget = budget
        self._clock: Clock = _validate.clock("clock", clock)

    @property
    def delay(self) -> float:
        """The delay the next call would wait before hedging, in seconds."""
        return self._delays.current()

    # -- decisions -----------------------------------------------------------------------

    def _may_launch(self, extras_left: int, attempts: int) -> bool:
        """Whether an extra attempt may start now; a refused budget ends hedging for the call."""
        if extras_left <= 0:
            return False
        if self._budget is None or self._budget.try_withdraw():
            return True
        if self._listeners.active:
            emit(self._listeners, BudgetExhausted(self.name, attempts))
        return False

    # -- the asyncio driver --------------------------------------------------------------

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        raise TypeError(self._needs_asyncio(fn))

    def _needs_asyncio(self, fn: object) -> str:
        return (
            f"{self!r} cannot hedge the synchronous function {fn!r}: hedging runs attempts "
            "concurrently as asyncio tasks and cancels the losers, which a thread cannot do "
            "safely. Hedge an async def function (or use Timeout and Retry for sync code)."
        )

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        hedged = self._hedged

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            return await hedged(fn, args, kwargs)

        return shell(wrapped)

    async def _hedged(self, fn: Callable[..., Awaitable[R]], args: Args, kwargs: Kwargs) -> R:
        """Race attempts of ``fn(*args, **kwargs)`` per the hedge delay; the first success wins."""
        if self._budget is not None:
            self._budget.deposit()
        race = _Race(self._clock)
        extras, delay = self._max_extra, self._delays.current()
        try:
            race.start(fn(*args, **kwargs))
            while race.tasks:
                await race.wait(delay if extras else None)
                winner = race.settle(self._delays)
                if winner is not None:
                    return cast("R", winner.result())
                # The delay passed, or every attempt that finished failed: hedge now.
                attempts = race.started
                if self._may_launch(extras, attempts):
                    extras -= 1
                    if self._listeners.active:
                        emit(self._listeners, HedgeStarted(self.name, attempts + 1, delay))
                    race.start(fn(*args, **kwargs))
                else:
                    extras = 0
        finally:
            if race.tasks:
                await race.cancel_all()
        last, race.last = race.last, None
        assert last is not None  # noqa: S101 - the loop ends only after every attempt failed
        note = f"hedge {self.name!r}: all {race.started} attempts failed; this is the last"
        set_note(last, note, key=f"hedge {self.name!r}:")
        try:
            raise last
        finally:
            del last, race  # no reference cycle through this frame in the traceback

    def _config(self) -> dict[str, object]:
        return {"delay": self._delay_spec, "max_extra": self._max_extra}


class _Race:
    """The attempts of one hedged call, and the one future that wakes the caller.

    A finishing attempt and the hedge-delay timer (a single ``loop.call_later``
    handle per wait, cancelled as soon as the wait ends) resolve ``waiter``;
    no per-wait sets or wrapper futures, so a call whose first attempt
    succeeds costs one task, one future and one timer handle, and resumes as
    soon as after a plain ``await task``.
    """

    __slots__ = ("clock", "last", "loop", "started", "starts", "tasks", "timer", "waiter")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.loop = asyncio.get_running_loop()
        self.waiter: asyncio.Future[None] = self.loop.create_future()
        self.tasks: list[asyncio.Future[Any]] = []  # running, in start order
        self.starts: list[float] = []  # their start times on the policy clock
        self.started = 0
        self.last: Exception | None = None
        self.timer: asyncio.TimerHandle | None = None

    def start(self, attempt: Awaitable[Any]) -> None:
        self.tasks.append(self.loop.create_task(self._run(attempt)))
        self.starts.append(self.clock.monotonic())
        self.started += 1

    async def _run(self, attempt: Awaitable[Any]) -> Any:
        # The attempt wakes the caller itself, in the step in which it finishes, rather than
        # through a done-callback: a callback runs one loop iteration later, and the caller
        # one more after that. Woken this way the caller resumes exactly as early as after
        # awaiting the task, and by then the task is done.
        try:
            return await attempt
        finally:
            self._wake()

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _wake(self) -> None:
        if not self.waiter.done():
            self.waiter.set_result(None)

    def wait(self, delay: float | None) -> asyncio.Future[None]:
        """What to await: resolved when an attempt finishes, or after ``delay`` s (if not None)."""
        if self.waiter.done():
            self.waiter = self.loop.create_future()
        if delay is not None:
            self.timer = self.loop.call_later(delay, self._wake)
        return self.waiter

    def settle(self, delays: _Delays) -> asyncio.Future[Any] | None:
        """Take the finished attempts off: the first success, recorded; failures kept in last."""
        self._disarm()
        tasks, starts = self.tasks, self.starts
        index = 0
        while index < len(tasks):
            task = tasks[index]
            if not task.done():
                index += 1
                continue
            del tasks[index]
            started = starts.pop(index)
            failure = task.exception()  # raises CancelledError if someone cancelled the attempt
            if failure is None:
                if delays.q is not None:
                    now = self.clock.monotonic()
                    delays.record(now - started)
                    for other in starts:
                        # A loser's true latency is unknown but at least this; dropping it
                        # would bias the percentile towards the fast attempts that win.
                        delays.record(now - other)
                return task
            if not isinstance(failure, Exception):
                raise failure
            self.last = failure
        return None

    async def cancel_all(self) -> None:
        """Cancel the attempts still running and wait until every one has finished.

        However often the caller is cancelled meanwhile, it keeps waiting (as
        `asyncio.TaskGroup` does) and re-raises the cancellation only once
        nothing is left running.
        """
        self._disarm()
        tasks = self.tasks
        interrupted: BaseException | None = None
        for task in tasks:
            task.cancel()
        while True:
            try:
                await asyncio.wait(tasks)
            except asyncio.CancelledError as exc:
                interrupted = exc  # cancelled again: the attempts are already told; keep waiting
            if all(task.done() for task in tasks):
                break
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log "never retrieved"
        tasks.clear()
        if interrupted is not None:
            try:
                raise interrupted
            finally:
                del interrupted

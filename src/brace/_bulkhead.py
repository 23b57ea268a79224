"""Bulkhead: at most ``max_concurrent`` calls inside, a bounded FIFO queue for the rest.

One `Bulkhead` counts calls from threads and from coroutines together; the
permits and the queue are `brace._bulkhead_queue.Permits`. A waiting thread
blocks on its own pre-acquired lock (no spinning); a waiting coroutine
awaits a future that the releasing side completes with
``loop.call_soon_threadsafe``.

Waits are measured on the policy's clock (see `brace._waiting`). A waiting
coroutine's ``max_wait`` or deadline is one loop timer when its loop keeps
the clock's time (the system clock, or a `brace.testing.VirtualEventLoop`
bound to the clock), so a simulation expires it at the exact virtual instant.
Only where nothing announces the clock's moves (a thread under a
`brace.testing.VirtualClock`, or a task on a real loop under one) does a
waiter re-read the clock every `brace._waiting.POLL_INTERVAL`.

A permit is given back exactly once however the call ends, including when a
listener raises, or Ctrl-C (`KeyboardInterrupt`) arrives between two
bytecodes: the shells mark the permit as held *before* taking it (so an
interrupt right after the take still gives it back), enter the queue only
inside a block that settles the waiter, and give the permit back with an
inline ``append`` rather than a call that an interrupt could skip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace import _validate
from brace._bulkhead_queue import ENTER, REJECT, Permits, TaskWaiter, ThreadWaiter, Waiter  # noqa: F401 - _enter_thread waits on it
from brace._calls import calls_user_code, refuse_awaitable, shell
from brace._clock import Clock, SystemClock
from brace._deadline import _CURRENT, check_deadline, expired_error
from brace._errors import BulkheadFullError, ConfigError, TimeoutExceededError
from brace._events import BulkheadFull, Queued, TimedOut, emit
from brace._policy import Policy
from brace._unasync import IS_ASYNC, sync_twin

__all__ = ["Bulkhead", "BulkheadMetrics"]

P = ParamSpec("P")
R = TypeVar("R")

#: The largest ``max_concurrent`` (for "no limit", leave the Bulkhead out).
MAX_CONCURRENT = 2**62


@dataclass(frozen=True, slots=True)
class BulkheadMetrics:
    """A snapshot of a bulkhead.

    Attributes:
        in_flight: Calls running inside now.
        queued: Calls waiting for a slot now.
        rejected: Calls refused with `BulkheadFullError` so far (full queue or
            ``max_wait`` passed).
        max_in_flight: Most calls ever inside at once (sampled without a lock on
            the fast path, so concurrent entries may under-report it by a little).
        max_queued: Most calls ever waiting at once.
    """

    in_flight: int
    queued: int
    rejected: int
    max_in_flight: int
    max_queued: int


class Bulkhead(Policy):
    """Let at most ``max_concurrent`` calls run at once; queue or reject the rest.

    Shared safely by threads and asyncio tasks (of any number of loops): they
    count against the same slots. A call that finds every slot busy waits in
    a FIFO queue if fewer than ``max_queue`` are already waiting, for at most
    ``max_wait`` seconds and never past the current `brace.deadline`;
    otherwise it fails at once with `BulkheadFullError`. A waiter whose
    deadline passes gets `TimeoutExceededError`. The slot is given back
    exactly once however the call ends, cancellation included.

    Args:
        name: Used in errors, events and metrics. Default ``"bulkhead"``.
        max_concurrent: Calls allowed inside at once (>= 1). Required.
        max_queue: Calls allowed to wait for a slot (>= 0). Default 0: reject at once.
        max_wait: Longest wait for a slot, in seconds (> 0 when ``max_queue``
            > 0, else 0). Default 0.0.
        clock: Where waits are measured. Default the system clock.
        store: Where the permits live. Default: this bulkhead's own. Bulkheads
            named alike on one `brace.store.MemoryStore` share their permits; on a
            `brace.store.RedisStore` they share them across processes: at most
            ``max_concurrent`` calls inside across the fleet, each permit a
            lease that frees itself if its process dies, and waits measured in
            real time.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self,
        name: str | None = None,
        *,
        max_concurrent: int,
        max_queue: int = 0,
        max_wait: float | timedelta = 0.0,
        clock: Clock | None = None,
        store: object = None,
    ) -> None:
        super().__init__(name)
        self.max_concurrent = _validate.positive_int("max_concurrent", max_concurrent)
        if self.max_concurrent > MAX_CONCURRENT:
            raise ConfigError(
                f"max_concurrent={max_concurrent!r} is out of range; expected an int from 1 "
                "to 2**62 (for no limit at all, leave the Bulkhead out)"
            )
        self.max_queue = _validate.positive_int("max_queue", max_queue, minimum=0)
        self.max_wait = _validate.duration("max_wait", max_wait)
        if self.max_queue and not self.max_wait:
            raise ConfigError(
                f"max_wait={max_wait!r} is not allowed with max_queue={max_queue!r}; "
                "expected max_wait > 0 seconds so queued calls can wait (or max_queue=0)"
            )
        if self.max_wait and not self.max_queue:
            raise ConfigError(
                f"max_wait={max_wait!r} has no effect with max_queue=0; "
                "expected max_queue >= 1 to let calls wait (or max_wait=0)"
            )
        self._clock: Clock = _validate.clock("clock", clock)
        self._poll = not isinstance(self._clock, SystemClock)
        self.store = store
        self._fleet: Any = None
        if store is None:
            self._permits = Permits(self.max_concurrent, self.max_queue)
        elif callable(getattr(store, "bulkhead_permits", None)):
            # A shared store's own permits: a Redis store's are the local fallback.
            self._permits = store.bulkhead_permits(self.name, self.max_concurrent, self.max_queue)  # type: ignore[attr-defined]
            fleet = getattr(store, "fleet_bulkhead", None)
            if fleet is not None:
                self._fleet = fleet(self.name, self.max_concurrent, self.max_queue)
        else:
            raise ConfigError(
                f"store={store!r} is not allowed; expected None or a store with "
                "bulkhead_permits(), such as brace.store.MemoryStore() or brace.store.RedisStore"
            )

    def _config(self) -> dict[str, object]:
        return {
            "max_concurrent": self.max_concurrent,
            "max_queue": self.max_queue,
            "max_wait": self.max_wait,
        }

    def metrics(self) -> BulkheadMetrics:
        """A consistent snapshot: in flight, queued, rejected and the maxima observed.

        On a Redis store: this process's calls, through the fleet's permits
        and (while Redis is away) the local ones.
        """
        counts = self._permits.counts()
        if self._fleet is not None:
            fleet = self._fleet.counts()
            counts = (
                *(a + b for a, b in zip(counts[:3], fleet[:3], strict=True)),
                *(max(a, b) for a, b in zip(counts[3:], fleet[3:], strict=True)),
            )
        return BulkheadMetrics(*counts)

    # -- waiting for a permit ---------------------------------------------------------

    def _full(self, in_flight: int, queued: int) -> BulkheadFullError:
        self._listeners.rejected()  # telemetry: count, now and then summarise in the log
        if self._listeners.active:
            emit(self._listeners, BulkheadFull(self.name, in_flight, queued))
        return BulkheadFullError(
            f"bulkhead {self.name!r} is full: {in_flight} of {self.max_concurrent} calls "
            f"running and {queued} of {self.max_queue} queued",
            policy=self.name,
        )

    def _wait_budget(self) -> tuple[bool, float]:
        """``(by_deadline, seconds)``: how long a call may wait; whether the deadline decides."""
        cur = _CURRENT.get()
        if cur is not None and cur.left() < self.max_wait:
            return True, max(cur.left(), 0.0)
        return False, self.max_wait

    def _stay(self, waiter: Waiter) -> _Stay:
        """One wait for a permit; its expiry is measured on the waiter's timeline."""
        by_deadline, budget = self._wait_budget()
        # The wait starts before queueing: a releaser may move the clock at once.
        return _Stay(self, waiter, by_deadline, waiter.now() + budget)

    def _expired(
        self, by_deadline: bool, count_rejection: Callable[[], tuple[int, int]]
    ) -> BulkheadFullError | TimeoutExceededError:
        """The error for a wait that ran out: the deadline's, or `BulkheadFullError` (counted)."""
        if by_deadline:
            cur = _CURRENT.get()
            if cur is not None:
                if self._listeners.active:
                    emit(self._listeners, TimedOut(self.name, cur.seconds, cur.source))
                return expired_error(cur, self.name, f"waiting for bulkhead {self.name!r}")
        return self._full(*count_rejection())

    # No `with` block here: its exit is a call, and an interrupt (Ctrl-C) just after that call
    # would land outside the block holding a granted permit. The `return` inside `try` is the
    # only way out that leaves a permit with the caller.

    async def _enter_task(self) -> None:
        """Take a permit, waiting in the queue if allowed; raises having taken none."""
        waiter = TaskWaiter(self._clock, self._poll)
        stay = self._stay(waiter)
        try:
            stay.enter()
            if not stay.granted:
                stay.granted = await waiter.wait(stay.expiry)
            if not stay.granted:
                raise stay.expired()
            return  # noqa: TRY300 - inside the try on purpose: see above
        except BaseException:
            stay.undo()
            raise

    _enter_thread = sync_twin(_enter_task, "_enter_thread", TaskWaiter="ThreadWaiter")

    # -- the shell (written async; the sync one is derived) -----------------------------

    # `held` is set before the permit is taken and cleared only where none was: see the
    # module docstring. The slow entries return holding a permit or raise holding none.

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        if self._fleet is not None:
            return self._afleet_shell(fn)
        return self._alocal_shell(fn)

    def _wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        if self._fleet is not None:
            return self._fleet_shell(fn)  # type: ignore[no-any-return]
        return self._local_shell(fn)  # type: ignore[no-any-return]

    def _alocal_shell(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        name, permits, enter = self.name, self._permits, self._enter_task
        free, waiters = permits.free, permits.waiters
        take, give, hand_on = free.pop, free.append, permits.hand_on
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            held = True
            try:
                if waiters:
                    held = False
                    await enter()
                    held = True
                else:
                    try:
                        take()
                    except IndexError:
                        held = False
                        await enter()
                        held = True
                    _sample(permits)
                result = await fn(*args, **kwargs)
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
                return result
            finally:
                if held:
                    give(None)
                    if waiters:
                        hand_on()

        return shell(wrapped)

    _local_shell = sync_twin(_alocal_shell, "_local_shell", _enter_task="_enter_thread")

    # A fleet permit (a Redis store): `enter` fills the ticket, or returns False when Redis
    # cannot be asked, and the call goes through the local permits instead. The ticket
    # exists before the try, so whatever ends the call, a permit it holds is given back.

    def _afleet_shell(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        name, fleet, local = self.name, self._fleet, self._alocal_shell(fn)
        enter, leave, ticket_for = fleet.aenter, fleet.aleave, fleet.ticket
        direct = not IS_ASYNC and calls_user_code(fn)

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _CURRENT.get() is not None:
                check_deadline(name)
            ticket = ticket_for()
            try:
                if not await enter(ticket, self):
                    return await local(*args, **kwargs)
                result = await fn(*args, **kwargs)
                if direct and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)
                return result
            finally:
                if ticket.lease is not None:
                    await leave(ticket)

        return shell(wrapped)

    _fleet_shell = sync_twin(
        _afleet_shell, "_fleet_shell", aenter="enter", aleave="leave", _alocal_shell="_local_shell"
    )


def _sample(permits: Permits) -> None:
    """Track the most calls inside at once (a benign race: a maximum sampled without the lock)."""
    in_flight = permits.max_concurrent - len(permits.free) - permits.reserve
    if in_flight > permits.max_in_flight:  # noqa: PLR1730 - max() would cost a call
        permits.max_in_flight = in_flight


class _Stay:
    """One caller's wait for a permit.

    `enter` queues the caller (or takes a free permit at once: ``granted``)
    and reports `Queued`, or raises `BulkheadFullError`; the driver then
    waits and sets ``granted``. `undo` (idempotent) gives back whatever the
    caller holds, its place in the queue or a permit granted meanwhile;
    `expired` does so and returns the error for a wait that ran out:
    `BulkheadFullError` (``max_wait``) or `TimeoutExceededError` (the deadline).
    """

    __slots__ = ("bulkhead", "by_deadline", "expiry", "granted", "rejected", "waiter")

    def __init__(
        self, bulkhead: Bulkhead, waiter: Waiter, by_deadline: bool, expiry: float
    ) -> None:
        self.bulkhead = bulkhead
        self.waiter = waiter
        self.by_deadline = by_deadline
        self.expiry = expiry
        self.granted = False
        self.rejected = False  # at once: neither queued nor granted, nothing to settle

    def enter(self) -> None:
        bulkhead = self.bulkhead
        permits = bulkhead._permits
        decision = permits.enqueue(self.waiter)
        if decision == ENTER:
            self.granted = True
        elif decision == REJECT:
            self.rejected = True
            raise bulkhead._full(permits.in_flight(), len(permits.waiters))
        elif bulkhead._listeners.active:
            emit(bulkhead._listeners, Queued(bulkhead.name, len(permits.waiters)))

    def undo(self) -> None:
        self.granted = False
        if not self.rejected:
            self.bulkhead._permits.settle(self.waiter)

    def expired(self) -> BulkheadFullError | TimeoutExceededError:
        self.undo()
        return self.bulkhead._expired(self.by_deadline, self.bulkhead._permits.count_rejection)

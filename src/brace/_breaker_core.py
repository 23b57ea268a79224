"""The circuit breaker's decisions: admit, record, release, transition.

`BreakerCore` is the sans-I/O heart of `brace.CircuitBreaker`: it never runs
the user's call, sleeps or awaits. The sync and async shells in
``_breaker.py`` (and permits) are one skeleton: ``token = admit()``, run or
await the call, then ``succeeded(token, result)`` or ``failed(token, exc)``.
Every decision is here, once; ``admit`` and ``succeeded`` are closures built
for the breaker's configuration because they run on every call.

All mutable state is in a store's `BreakerCell`; the cell's lock is held
only inside this module, for a few attribute updates, never around the
user's call. Events are built under the lock but emitted after it is
released, so a slow listener never blocks other calls.

Helpers whose name ends in ``_locked`` must be called with the lock held.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from brace._breaker_state import (
    CLOSED,
    DISABLED,
    HALF_OPEN,
    OPEN,
    OpenSchedule,
    Phase,
    State,
    check_transition,
)
from brace._deadline import _CURRENT, check_deadline
from brace._errors import CircuitOpenError
from brace._events import CallRejected, Event, Listeners, StateChanged, emit
from brace._window import FAILED, SLOW, CountRing, CountWindow, TimeRing, TimeWindow, WindowSnapshot
from brace.store._protocol import BreakerCell

__all__ = ["BreakerCore", "OpenSchedule", "Token"]

#: What ``admit`` returns and the outcome methods take back: the `Phase` that admitted the
#: call, or ``(phase, start)`` when the breaker times calls to spot slow ones.
Token: TypeAlias = "Phase | tuple[Phase, float]"  # noqa: S105 - not a secret


# `__new__` already sets ``args``; skipping the Python-level ``__init__`` chain halves the cost
# of a rejection (the error's fields are slots, set directly below).
_new_rejection = CircuitOpenError.__new__


def _split(token: Token) -> tuple[Phase, float]:
    return token if isinstance(token, tuple) else (token, 0.0)


def _pct(value: float) -> str:
    return f"{value:.0%}"


_REASONS = ("open", "half-open with every trial slot taken", "forced open")


class BreakerCore:
    """Admission, recording and transitions for one breaker over its cell."""

    __slots__ = (
        "_consecutive_mode",
        "_failure_rate",
        "_half_open_calls",
        "_ignore",
        "_listeners",
        "_messages",
        "_minimum_calls",
        "_record",
        "_schedule",
        "_slow_rate",
        "admit",
        "cell",
        "failure_if",
        "monotonic",
        "name",
        "slow_after",
        "stamp_end",
        "succeeded",
    )

    def __init__(
        self,
        *,
        name: str,
        cell: BreakerCell,
        listeners: Listeners,
        monotonic: Callable[[], float],
        consecutive_failures: int | None,
        failure_rate: float,
        minimum_calls: int,
        window: CountWindow | TimeWindow,
        slow_call_duration: float | None,
        slow_call_rate: float,
        schedule: OpenSchedule,
        half_open_calls: int,
        record: Callable[[BaseException], bool],
        ignore: Callable[[BaseException], bool],
        failure_if: Callable[[Any], object] | None,
    ) -> None:
        self.name = name
        self.cell = cell
        self._listeners = listeners
        self.monotonic = monotonic
        self._consecutive_mode = consecutive_failures is not None
        # In consecutive mode the window only feeds metrics(); the failure count trips it.
        self._minimum_calls = consecutive_failures or minimum_calls
        self._failure_rate = failure_rate
        self._slow_rate = slow_call_rate
        self._schedule = schedule
        self._half_open_calls = half_open_calls
        self._record = record
        self._ignore = ignore
        self.failure_if = failure_if
        self.slow_after = slow_call_duration
        # The clock is read after a call only when something needs the end time.
        self.stamp_end = slow_call_duration is not None or isinstance(window, TimeWindow)
        self._messages = {r: f"circuit breaker {name!r} is {r}" for r in _REASONS}
        #: ``admit() -> Token``: admit a call now, or raise `CircuitOpenError` (or the
        #: deadline's error when an enclosing `brace.deadline` has run out).
        self.admit: Callable[[], Token] = self._admitter()
        #: ``succeeded(token, result)``: record a call that returned ``result`` (a failure
        #: if ``failure_if(result)`` says so).
        self.succeeded: Callable[[Token, object], None] = (
            self._succeeded
            if failure_if is not None or slow_call_duration is not None
            else cast("Callable[[Token, object], None]", self._fast_succeeded())
        )

    # -- admission ------------------------------------------------------------------------

    def _admitter(self) -> Callable[[], Token]:
        """Build ``admit``: every call runs it, so what it needs is bound in the closure."""
        cell, name, monotonic = self.cell, self.name, self.monotonic
        deadline = _CURRENT.get
        admit_slow, reject = self._admit_slow, self._reject

        def admit() -> Phase:
            if deadline() is not None:
                check_deadline(name)
            phase = cell.phase
            if phase.state is CLOSED:
                return phase
            now = monotonic()
            if phase.state is OPEN and now < phase.until:
                # The open breaker's hot path takes no lock: a phase never changes its
                # state or `until`, and `_reject` counts with an atomic next().
                raise reject(phase, now)
            return admit_slow(now)

        if self.slow_after is None:
            return admit

        def admit_timed() -> tuple[Phase, float]:
            # Slow-call timing starts once the call is admitted.
            return admit(), monotonic()

        return admit_timed

    def _admit_slow(self, now: float) -> Phase:
        """Admit at ``now`` under the lock, after any due OPEN -> HALF_OPEN move, or raise."""
        cell = self.cell
        with cell.lock:
            events = self._advance_locked(now)
            phase = cell.phase
            state = phase.state
            if state is HALF_OPEN:
                admitted = phase.admitted < self._half_open_calls
                if admitted:
                    phase.admitted += 1
            else:
                admitted = state is CLOSED or state is DISABLED
        if events:
            self._emit(events)
        if not admitted:
            raise self._reject(phase, now)
        return phase

    def _reject(self, phase: Phase, now: float) -> CircuitOpenError:
        """Count a call rejected in ``phase`` at ``now``, report it, build the error to raise."""
        next(self.cell.rejections)
        state = phase.state
        retry_after: float | None = None
        if state is OPEN:
            reason, retry_after = "open", phase.until - now
        elif state is HALF_OPEN:
            reason = "half-open with every trial slot taken"
        else:
            reason = "forced open"
        if self._listeners.active:
            emit(self._listeners, CallRejected(self.name, reason, retry_after))
        error = _new_rejection(CircuitOpenError, self._messages[reason])
        error.policy = self.name
        error.retry_after = retry_after
        if phase.cause is not None:
            error.__cause__ = phase.cause  # `raise error from cause`
        return error

    def _advance_locked(self, now: float) -> list[Event] | None:
        """Move OPEN to HALF_OPEN once ``open_for`` has passed (the only time-driven move)."""
        phase = self.cell.phase
        if phase.state is OPEN and now >= phase.until:
            return self._move_locked(
                Phase(HALF_OPEN, phase.until), "open_for elapsed", manual=False
            )
        return None

    # -- outcomes -------------------------------------------------------------------------

    def _succeeded(self, token: Token, result: object) -> None:
        phase, start = _split(token)
        outcome = 0
        if self.failure_if is not None:
            try:
                if self.failure_if(result):
                    outcome = FAILED
            except BaseException:
                self.release(phase)
                raise
        self._settle(phase, start, outcome, None)

    def _fast_succeeded(self) -> Callable[[Phase, object], None]:
        """`succeeded` when neither ``failure_if`` nor slow-call timing applies.

        Every successful call runs this. A success into a window with no
        failure and no slow call in it (and no failure streak) cannot trip
        anything, so it only moves counts: that is a healthy dependency's
        whole path, kept to one lock round trip and a few attribute updates.
        The token is the phase (no start time without timing).
        """
        general = self._succeeded
        cell = self.cell
        lock = cell.lock
        window = cell.window  # never replaced (store protocol), so bind it
        count = window if isinstance(window, CountRing) else None
        ring = window if isinstance(window, TimeRing) else None
        monotonic = self.monotonic if self.stamp_end else None
        closed_locked, emit_all = self._closed_locked, self._emit

        def succeeded(phase: Phase, result: object) -> None:
            if phase.state is not CLOSED:
                general(phase, result)
                return
            now = 0.0 if monotonic is None else monotonic()
            lock.acquire()  # not `with`: acquire/release is markedly cheaper on CPython 3.11
            try:
                if cell.phase is not phase:
                    return
                if not (window.failures or window.slow or cell.consecutive):
                    if count is not None:
                        count._n += 1  # a clean count ring holds only zeros: see CountRing
                    elif ring is not None and now < ring.end:
                        ring.slices[ring.pos] += 1  # the newest slice is still current
                        ring.calls += 1
                    else:
                        window.record(0, now)
                    return
                events = closed_locked(0, now, None)
            finally:
                lock.release()
            if events:
                emit_all(events)

        return succeeded

    def failed(self, token: Token, exc: BaseException | None) -> None:
        """Record a call that raised ``exc`` (None: a plain failure), classified.

        ``record`` makes it a failure, ``ignore`` or control flow (anything
        not an `Exception`) makes it nothing, giving a trial slot back; any
        other exception counts as a success.
        """
        phase, start = _split(token)
        try:
            if exc is None:
                outcome = FAILED
            elif not isinstance(exc, Exception) or self._ignore(exc):
                self.release(phase)
                return
            else:
                outcome = FAILED if self._record(exc) else 0
        except BaseException:
            self.release(phase)
            raise
        self._settle(phase, start, outcome, exc if outcome & FAILED else None)

    def _settle(
        self, phase: Phase, start: float, outcome: int, cause: BaseException | None
    ) -> None:
        """Record ``outcome`` for a call admitted in ``phase``; stale phases record nothing."""
        now = self.monotonic() if self.stamp_end else 0.0
        if self.slow_after is not None and now - start > self.slow_after:
            outcome |= SLOW
        cell = self.cell
        lock = cell.lock
        lock.acquire()
        try:
            if cell.phase is not phase or phase.state is DISABLED:
                return
            if phase.state is CLOSED:
                events = self._closed_locked(outcome, now, cause)
            else:
                events = self._trial_locked(phase, outcome, cause)
        finally:
            lock.release()
        if events:
            self._emit(events)

    def release(self, token: Token) -> None:
        """Give back the trial slot of a call that ended without an outcome (cancelled, ignored)."""
        phase = token[0] if isinstance(token, tuple) else token
        if phase.state is not HALF_OPEN:
            return
        cell = self.cell
        with cell.lock:
            if cell.phase is phase:
                phase.admitted -= 1

    def _closed_locked(
        self, outcome: int, now: float, cause: BaseException | None
    ) -> list[Event] | None:
        cell = self.cell
        window = cell.window
        window.record(outcome, now)
        if self._consecutive_mode:
            if not outcome & FAILED:
                cell.consecutive = 0
                return None
            cell.consecutive += 1
            if cell.consecutive < self._minimum_calls:
                return None
            return self._trip_locked(now, cause, f"{cell.consecutive} consecutive failures")
        calls = window.calls
        if calls < self._minimum_calls:
            return None
        return (
            self._trip_locked(now, cause)
            if self._over_locked(window.failures, window.slow, calls)
            else None
        )

    def _over_locked(self, failures: int, slow: int, calls: int) -> bool:
        return failures / calls >= self._failure_rate or slow / calls >= self._slow_rate

    def _trial_locked(
        self, phase: Phase, outcome: int, cause: BaseException | None
    ) -> list[Event] | None:
        phase.done += 1
        if outcome & FAILED:
            phase.failed += 1
        if outcome & SLOW:
            phase.slow += 1
        if self._consecutive_mode and outcome & FAILED:
            return self._open_locked(cause, "a trial call failed")
        if phase.done < self._half_open_calls:
            return None
        if not self._consecutive_mode and self._over_locked(phase.failed, phase.slow, phase.done):
            rates = self._rates(phase.failed, phase.slow, phase.done)
            return self._open_locked(cause, f"{rates} over {phase.done} trial calls")
        self.cell.trips = 0
        return self._move_locked(
            Phase(CLOSED, self.monotonic()), f"{phase.done} trial calls succeeded", manual=False
        )

    # -- transitions ----------------------------------------------------------------------

    def _trip_locked(
        self, now: float, cause: BaseException | None, reason: str | None = None
    ) -> list[Event]:
        if reason is None:
            snap = self.cell.window.snapshot(now)
            reason = self._rates(snap.failures, snap.slow, snap.calls) + f" over {snap.calls} calls"
        return self._open_locked(cause, reason)

    def _rates(self, failures: int, slow: int, calls: int) -> str:
        """Which thresholds were reached, for the StateChanged reason."""
        parts = []
        if failures / calls >= self._failure_rate:
            parts.append(f"failure rate {_pct(failures / calls)} >= {_pct(self._failure_rate)}")
        if slow / calls >= self._slow_rate:
            parts.append(f"slow-call rate {_pct(slow / calls)} >= {_pct(self._slow_rate)}")
        return " and ".join(parts)

    def _open_locked(self, cause: BaseException | None, reason: str) -> list[Event]:
        # Read the clock here: callers on the count-window path carry no `now` (0.0).
        now = self.monotonic()
        cell = self.cell
        cell.trips += 1
        until = now + self._schedule.delay(cell.trips)
        return self._move_locked(Phase(OPEN, now, until, cause), reason, manual=False)

    def _move_locked(self, new: Phase, reason: str, *, manual: bool) -> list[Event]:
        cell = self.cell
        old = cell.phase.state
        check_transition(old, new.state, manual=manual)
        cell.phase = new
        if new.state is CLOSED:
            cell.window.clear()
            cell.consecutive = 0
        if old is new.state:
            return []
        return [StateChanged(self.name, old.name, new.state.name, reason)]

    def move(self, state: State, reason: str) -> None:
        """Manual control: go to ``state`` (CLOSED, FORCED_OPEN or DISABLED) at once."""
        cell = self.cell
        now = self.monotonic()
        with cell.lock:
            if state is CLOSED:
                cell.trips = 0
                cell.rejections = itertools.count()
                cell.rejection_reads = 0
            events = self._move_locked(Phase(state, now), reason, manual=True)
        self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        if self._listeners.active:
            for event in events:
                emit(self._listeners, event)

    # -- observation ----------------------------------------------------------------------

    def observe(self, now: float) -> tuple[Phase, WindowSnapshot, int, int]:
        """The current phase (after any due OPEN -> HALF_OPEN move), window and counters."""
        cell = self.cell
        with cell.lock:
            events = self._advance_locked(now)
            # An itertools.count is read by advancing it, so every read counts itself too.
            rejected = next(cell.rejections) - cell.rejection_reads
            cell.rejection_reads += 1
            result = (cell.phase, cell.window.snapshot(now), cell.consecutive, rejected)
        if events:
            self._emit(events)
        return result

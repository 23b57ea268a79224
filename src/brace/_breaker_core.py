"""The circuit breaker's decisions: admit, record, release, transition.

`BreakerCore` is the sans-I/O heart of `brace.CircuitBreaker`: it never runs
the user's call, sleeps or awaits. The sync and async shells in
``_breaker.py`` ask it to admit a call (with ``now``), run the call, then
hand it the outcome. All mutable state is in a store's `BreakerCell`; the
cell's lock is held only inside this module, for a few attribute updates,
never around the user's call. Events are built under the lock but emitted
after it is released, so a slow listener never blocks other calls.

Helpers whose name ends in ``_locked`` must be called with the lock held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from brace._errors import CircuitOpenError
from brace._events import GLOBAL, CallRejected, Event, Listeners, StateChanged, emit
from brace._policy import CONTROL_FLOW
from brace._window import FAILED, SLOW, CountRing, CountWindow, TimeRing, TimeWindow, WindowSnapshot
from brace.store._protocol import BreakerCell

__all__ = ["BreakerCore", "OpenSchedule"]


_new_error = CircuitOpenError.__new__


def _open_error(message: str, policy: str, retry_after: float | None) -> CircuitOpenError:
    """``CircuitOpenError(message, policy=..., retry_after=...)`` at half the cost.

    Rejecting is the open breaker's hot path, and the Python-level
    ``__init__`` chain costs more than the rest of it; ``__new__`` already
    sets ``args``, so only the two attributes remain to fill in.
    """
    error = _new_error(CircuitOpenError, message)
    error.policy = policy
    error.retry_after = retry_after
    return error


def _pct(value: float) -> str:
    return f"{value:.0%}"


class BreakerCore:
    """Admission, recording and transitions for one breaker over its cell."""

    __slots__ = (
        "_consecutive_mode",
        "_failure_rate",
        "_half_open_calls",
        "_ignore",
        "_listeners",
        "_minimum_calls",
        "_open_message",
        "_record",
        "_schedule",
        "_slow_rate",
        "cell",
        "clean_ring",
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
        bare = failure_if is None and slow_call_duration is None and not self._consecutive_mode
        #: Record a call that returned ``result`` (a failure if ``failure_if(result)`` says so).
        self.succeeded: Callable[[Phase, object, float], None] = (
            self._fast_succeeded() if bare else self._succeeded
        )
        #: The count ring the shells may record a clean success into directly (see CountRing).
        self.clean_ring = cell.window if bare and type(cell.window) is CountRing else None
        self._open_message = f"circuit breaker {name!r} is open"

    # -- admission ------------------------------------------------------------------------

    def admit(self, now: float) -> Phase | CircuitOpenError:
        """Admit a call at ``now``: the phase it belongs to, or the `CircuitOpenError` to raise.

        The shells call this only when the phase they read is not CLOSED, and
        raise a returned error themselves: one frame less to unwind on the
        open breaker's hot path.
        """
        cell = self.cell
        lock = cell.lock
        lock.acquire()
        try:
            phase = cell.phase
            # The common rejection, kept short: no event list, no message formatting.
            open_rejection = phase.state is OPEN and now < phase.until
            if open_rejection:
                cell.rejected += 1
                cause = cell.cause
        finally:
            lock.release()
        if open_rejection:
            retry_after = phase.until - now
            if self._listeners.subs or GLOBAL.subs:
                emit(self._listeners, CallRejected(self.name, "open", retry_after))
            error = _new_error(CircuitOpenError, self._open_message)  # see _open_error
            error.policy = self.name
            error.retry_after = retry_after
            error.__cause__ = cause  # `raise error from cause`, raised by the shell
            return error
        with cell.lock:
            events = self._advance_locked(now)
            phase = cell.phase
            state = phase.state
            if state is CLOSED or state is DISABLED:
                rejection = None
            elif state is HALF_OPEN and phase.admitted < self._half_open_calls:
                phase.admitted += 1
                rejection = None
            else:
                cell.rejected += 1
                rejection = self._rejection(phase, now)
            cause = cell.cause
        if events:
            self._emit(events)
        if rejection is None:
            return phase
        message, retry = rejection
        if self._listeners.subs or GLOBAL.subs:
            emit(self._listeners, CallRejected(self.name, message, retry))
        error = _open_error(f"circuit breaker {self.name!r} is {message}", self.name, retry)
        error.__cause__ = cause
        return error

    def _rejection(self, phase: Phase, now: float) -> tuple[str, float | None]:
        if phase.state is OPEN:
            return "open", max(phase.until - now, 0.0)
        if phase.state is HALF_OPEN:
            return "half-open with every trial slot taken", None
        return "forced open", None

    def _advance_locked(self, now: float) -> list[Event] | None:
        """Move OPEN to HALF_OPEN once ``open_for`` has passed (the only time-driven move)."""
        phase = self.cell.phase
        if phase.state is OPEN and now >= phase.until:
            return self._move_locked(
                Phase(HALF_OPEN, phase.until), "open_for elapsed", manual=False
            )
        return None

    # -- outcomes -------------------------------------------------------------------------

    def _succeeded(self, phase: Phase, result: object, start: float) -> None:
        outcome = 0
        if self.failure_if is not None:
            try:
                if self.failure_if(result):
                    outcome = FAILED
            except BaseException:
                self.release(phase)
                raise
        now = self.monotonic() if self.stamp_end else 0.0
        if self.slow_after is not None and now - start > self.slow_after:
            outcome |= SLOW
        self.finish(phase, outcome, now, None)

    def _fast_succeeded(self) -> Callable[[Phase, object, float], None]:
        """`succeeded` for rate mode with no ``failure_if`` and no slow-call timing.

        Every successful call runs this, so what it needs is bound in the
        closure instead of looked up on ``self``, and the lock is taken with
        acquire/release (cheaper than ``with``).
        """
        general = self._succeeded
        cell = self.cell
        lock = cell.lock
        window = cell.window  # never replaced (store protocol), so bind it and its method
        record = window.record
        minimum, failure_rate, slow_rate = self._minimum_calls, self._failure_rate, self._slow_rate
        monotonic = self.monotonic if self.stamp_end else None
        trip, emit_all = self._trip_locked, self._emit
        slices = window if type(window) is TimeRing else None
        width = slices._width if slices is not None else 1.0

        def succeeded(phase: Phase, result: object, start: float) -> None:
            if phase.state is not CLOSED:
                general(phase, result, start)
                return
            now = 0.0 if monotonic is None else monotonic()
            lock.acquire()
            try:
                if cell.phase is not phase:
                    return
                if (
                    slices is not None
                    and int(now // width) == slices._head
                    and not (slices.failures or slices.slow)
                ):
                    # TimeRing.record inlined for its commonest case, a success into the
                    # newest slice of a clean window: it cannot trip, two counters move.
                    slices._calls[slices._pos] += 1
                    slices.calls += 1
                    return
                record(0, now)
                failures, slow = window.failures, window.slow
                # A success cannot trip a window with no failure and no slow call in it.
                if not (failures or slow):
                    return
                calls = window.calls
                if calls < minimum or (
                    failures / calls < failure_rate and slow / calls < slow_rate
                ):
                    return
                events = trip(now, None)
            finally:
                lock.release()
            emit_all(events)

        return succeeded

    def failed(self, phase: Phase, exc: BaseException | None, start: float) -> None:
        """Classify ``exc``, which ended a call, and record it (None: a plain failure)."""
        try:
            if exc is None:
                outcome = FAILED
            elif isinstance(exc, CONTROL_FLOW) or self._ignore(exc):
                self.release(phase)
                return
            else:
                outcome = FAILED if self._record(exc) else 0
        except BaseException:
            self.release(phase)
            raise
        now = self.monotonic() if self.stamp_end else 0.0
        if self.slow_after is not None and now - start > self.slow_after:
            outcome |= SLOW
        self.finish(phase, outcome, now, exc if outcome & FAILED else None)

    def finish(self, phase: Phase, outcome: int, now: float, cause: BaseException | None) -> None:
        """Record ``outcome`` for a call admitted in ``phase``; stale phases record nothing."""
        cell = self.cell
        lock = cell.lock
        lock.acquire()  # not `with`: acquire/release is markedly cheaper on CPython 3.11
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

    def release(self, phase: Phase) -> None:
        """Give back the trial slot of a call that ended without an outcome (cancelled, ignored)."""
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
        events = self._move_locked(Phase(OPEN, now, until), reason, manual=False)
        cell.cause = cause
        return events

    def _move_locked(self, new: Phase, reason: str, *, manual: bool) -> list[Event]:
        cell = self.cell
        old = cell.phase.state
        check_transition(old, new.state, manual=manual)
        cell.phase = new
        cell.cause = None
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
                cell.rejected = 0
            events = self._move_locked(Phase(state, now), reason, manual=True)
        self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        if self._listeners.subs or GLOBAL.subs:
            for event in events:
                emit(self._listeners, event)

    # -- observation ----------------------------------------------------------------------

    def observe(self, now: float) -> tuple[Phase, WindowSnapshot, int, int]:
        """The current phase (after any due OPEN -> HALF_OPEN move), window and counters."""
        cell = self.cell
        with cell.lock:
            events = self._advance_locked(now)
            result = (cell.phase, cell.window.snapshot(now), cell.consecutive, cell.rejected)
        if events:
            self._emit(events)
        return result

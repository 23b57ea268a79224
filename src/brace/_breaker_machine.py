"""The circuit breaker's shell: reads the facts in a cell, asks the core, commits, reports.

`BreakerMachine` is what `brace.CircuitBreaker`'s call shells and permits
talk to: ``admit()`` before a call, then exactly one of ``succeeded``,
``failed`` or ``release``. It owns what the pure `BreakerCore` must not
touch: the cell's lock (held for a few attribute updates, never around the
user's call), the deadline context variable, the clock and the events
(built under the lock, emitted after it is released).

Updates are written commit-style: every call that can fail or be interrupted
(building a phase, an event, reading the clock) happens first, then the new
facts are stored with plain assignments, so a listener that raises or a
Ctrl-C (`KeyboardInterrupt`) arriving between two bytecodes never leaves a
half-made transition. A trial slot is held through a `Trial` token that is
settled exactly once, whichever of record and release comes first.

Helpers whose name ends in ``_locked`` must be called with the lock held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from brace._breaker_core import REJECT, RELEASE, TRIAL, BreakerCore
from brace._breaker_state import (
    CLOSED,
    DISABLED,
    HALF_OPEN,
    OPEN,
    Phase,
    State,
    Trial,
    check_transition,
)
from brace._deadline import _CURRENT, check_deadline
from brace._errors import CircuitOpenError
from brace._events import CallRejected, Event, StateChanged, emit
from brace._telemetry import Telemetry, notable
from brace._window import FAILED, SLOW, WindowSnapshot
from brace.store._protocol import BreakerCell

__all__ = ["BreakerMachine", "Token", "Trial"]


#: What ``admit`` returns and the outcome methods take back: the admitting `Phase`
#: (``(phase, start)`` when calls are timed), or a `Trial` in HALF_OPEN.
Token: TypeAlias = "Phase | tuple[Phase, float] | Trial"  # noqa: S105 - not a secret


def _split(token: Token) -> tuple[Phase, float, Trial | None]:
    if type(token) is Trial:
        return token.phase, token.start, token
    if type(token) is tuple:
        return token[0], token[1], None
    return token, 0.0, None  # type: ignore[return-value]


class BreakerMachine:
    """One breaker's admission, recording and transitions over its store cell."""

    __slots__ = (
        "__weakref__",
        "_listeners",
        "_messages",
        "admit",
        "cell",
        "core",
        "monotonic",
        "name",
        "outcomes",
        "stamp_end",
        "succeeded",
    )

    def __init__(
        self,
        *,
        name: str,
        core: BreakerCore,
        cell: BreakerCell,
        listeners: Telemetry,
        monotonic: Callable[[], float],
        timed_window: bool,
    ) -> None:
        self.name = name
        self.core = core
        self.cell = cell
        self._listeners = listeners
        self.monotonic = monotonic
        # Telemetry: calls settled under the lock, by outcome bits, since construction.
        self.outcomes = [0, 0, 0, 0]
        # The clock is read after a call only when something needs the end time.
        self.stamp_end = core.slow_after is not None or timed_window
        self._messages = {
            reason: f"circuit breaker {name!r} is {reason}"
            for reason in ("open", "half-open with every trial slot taken", "forced open")
        }
        #: ``admit() -> Token``: admit a call now, or raise `CircuitOpenError` (or the
        #: deadline's error when an enclosing `brace.deadline` has run out).
        self.admit: Callable[[], Token] = self._admitter()
        #: ``succeeded(token, result)``: record a call that returned ``result``.
        self.succeeded: Callable[[Token, object], None] = self._success_recorder()
        cell.attach(self)

    # -- admission ------------------------------------------------------------------------

    def _admitter(self) -> Callable[[], Token]:
        """Build ``admit``: every call runs it, so what it needs is bound in the closure."""
        cell, name, monotonic = self.cell, self.name, self.monotonic
        deadline, slow = _CURRENT.get, self._admit_slow
        timed = self.core.slow_after is not None
        count, listeners, fast = cell.count_rejection, self._listeners, CircuitOpenError.fast
        tick = listeners.tick  # telemetry: `Telemetry.rejected`, inlined below
        message = self._messages["open"]

        def admit() -> Token:
            if deadline() is not None:
                check_deadline(name)
            # Slow-call timing starts now: read before the phase, so no clock read can be
            # interrupted between a trial slot being taken and the token reaching the caller.
            start = monotonic() if timed else 0.0
            phase = cell.phase
            if phase.state is CLOSED:
                return (phase, start) if timed else phase
            now = start if timed else monotonic()
            if phase.state is OPEN and now < phase.until:
                # The open breaker's hot path takes no lock: a phase never changes its
                # state or `until`, and the cell counts rejections atomically. (The rest
                # of `_reject`, inlined.)
                count()
                if tick() >= listeners.check_at:  # telemetry: count; a summary due?
                    listeners.check()
                left = phase.until - now
                if listeners.active:
                    emit(listeners, CallRejected(name, "open", left))
                raise fast(message, name, left, phase.cause)
            return slow(now, start)

        return admit

    def _admit_slow(self, now: float, start: float) -> Token:
        """Admit at ``now`` under the lock, after any due OPEN -> HALF_OPEN move, or raise."""
        cell, core = self.cell, self.core
        trial: Trial | None = None
        events: list[Event] | None = None
        leased = True
        try:
            with cell.lock:
                phase, events = self._advance_locked(now)
                decision = core.admission(phase)
                if decision == TRIAL:
                    taken = Trial(phase, start)
                    phase.admitted += 1
                    trial = taken  # no call between the increment and this: see the module doc
            if events:
                self._emit(events)
            if trial is not None:
                leased = cell.lease(trial)  # a shared store's fleet-wide limit on trials
        except BaseException:
            if trial is not None:
                self.release(trial)  # a listener (or Ctrl-C) raised after the slot was taken
            raise
        if not leased and trial is not None:
            self.release(trial)
            raise self._reject(phase, "half-open with every trial slot taken", None)
        if decision == REJECT:
            raise self._reject(phase, *self.core.rejection(phase, now))
        if trial is not None:
            return trial
        return (phase, start) if core.slow_after is not None else phase

    def _advance_locked(self, now: float) -> tuple[Phase, list[Event] | None]:
        """The phase at ``now``, after the one time-driven move (OPEN -> HALF_OPEN) if due."""
        cell, core = self.cell, self.core
        phase = cell.phase
        if not core.due(phase, now):
            return phase, None
        nxt = core.half_open(phase)
        events = self._moved_locked(phase, nxt, "open_for elapsed", manual=False)
        cell.phase = nxt
        return nxt, events

    def _reject(self, phase: Phase, reason: str, retry_after: float | None) -> CircuitOpenError:
        """Count a call rejected in ``phase`` (why: `BreakerCore.rejection`); build its error."""
        self.cell.count_rejection()
        self._listeners.rejected()  # telemetry: count, now and then summarise in the log
        if self._listeners.active:
            emit(self._listeners, CallRejected(self.name, reason, retry_after))
        return CircuitOpenError.fast(self._messages[reason], self.name, retry_after, phase.cause)

    # -- outcomes -------------------------------------------------------------------------

    def _success_recorder(self) -> Callable[[Token, object], None]:
        """Build ``succeeded``; a healthy dependency's successes take no lock at all.

        A success into a CLOSED window with no failure, no slow call and no
        streak cannot move the breaker, so the window counts it lock-free
        (`brace._window.Window.try_success`). Everything else, and every
        configuration with ``failure_if`` or slow-call timing, is recorded
        under the lock.
        """
        cell, core, settle = self.cell, self.core, self._settle
        try_success = cell.window.try_success  # the window is never replaced (store protocol)
        monotonic = self.monotonic if self.stamp_end else None
        judge = core.outcome_of_result if core.failure_if is not None else None

        if judge is None and core.slow_after is None:

            def lean(token: Token, result: object) -> None:  # noqa: ARG001 - never judged
                now = 0.0 if monotonic is None else monotonic()
                if (
                    type(token) is Phase
                    and token.state is CLOSED
                    and cell.phase is token
                    and not cell.consecutive
                    and try_success(now)
                ):
                    return
                phase, _, trial = _split(token)
                settle(phase, trial, 0, now, None)

            return lean

        def succeeded(token: Token, result: object) -> None:
            # A failure_if that raises settles nothing: the caller releases the slot.
            outcome = 0 if judge is None else judge(result)
            phase, start, trial = _split(token)
            now = 0.0 if monotonic is None else monotonic()
            outcome = core.timed(outcome, now - start)
            if (
                not outcome
                and trial is None
                and phase.state is CLOSED
                and cell.phase is phase
                and not cell.consecutive
                and try_success(now)
            ):
                return
            settle(phase, trial, outcome, now, None)

        return succeeded

    def failed(self, token: Token, exc: BaseException | None) -> None:
        """Record a call that raised ``exc`` (None: a plain failure), classified by the core."""
        try:
            outcome = self.core.outcome_of(exc)
        except BaseException:
            self.release(token)  # a record/ignore predicate raised: record nothing
            raise
        if outcome == RELEASE:
            self.release(token)
            return
        phase, start, trial = _split(token)
        now = self.monotonic() if self.stamp_end else 0.0
        outcome = self.core.timed(outcome, now - start)
        self._settle(phase, trial, outcome, now, exc if outcome & FAILED else None)

    def _settle(
        self,
        phase: Phase,
        trial: Trial | None,
        outcome: int,
        now: float,
        cause: BaseException | None,
    ) -> None:
        """Record ``outcome`` (timed) at ``now`` for a call admitted in ``phase``.

        A stale phase (the breaker moved on since) records nothing.
        """
        cell = self.cell
        with cell.lock:
            if trial is None or not trial.settled:
                self.outcomes[outcome] += 1  # telemetry: every settled call, counted once
            if trial is not None:
                if trial.settled:
                    return
                if cell.phase is not phase:
                    trial.settled = True
                    return
                events = self._trial_locked(trial, outcome, cause)
            elif cell.phase is not phase or phase.state is DISABLED:
                return
            else:
                events = self._closed_locked(outcome, now, cause)
        if events:
            self._emit(events)
        error = self.core.schedule.error
        if error is not None:
            self.core.schedule.error = None
            raise error  # a bad open_for delay: the breaker opened on the one before

    def release(self, token: Token) -> None:
        """Give back the trial slot of a call that ended without an outcome; idempotent."""
        if type(token) is not Trial:
            return  # only a trial holds anything
        with self.cell.lock:
            if token.settled:
                return
            token.settled = True
            if self.cell.phase is token.phase:
                token.phase.admitted -= 1

    def _closed_locked(
        self, outcome: int, now: float, cause: BaseException | None
    ) -> list[Event] | None:
        cell, core = self.cell, self.core
        window = cell.window
        window.record(outcome, now)
        streak = 0
        if core.rule.streak:
            streak = cell.consecutive + 1 if outcome & FAILED else 0
        reason = core.trip(window.calls, window.failures, window.slow, streak)
        if reason is None:
            cell.consecutive = streak
            return None
        trips = cell.trips + 1
        opened = core.opened(self.monotonic(), trips, cause)
        events = self._moved_locked(cell.phase, opened, reason, manual=False)
        cell.consecutive = streak  # commit: plain stores only from here
        cell.trips = trips
        cell.phase = opened
        return events

    def _trial_locked(
        self, trial: Trial, outcome: int, cause: BaseException | None
    ) -> list[Event] | None:
        cell, core = self.cell, self.core
        phase = trial.phase
        done = phase.done + 1
        failed = phase.failed + (outcome & FAILED)
        slow = phase.slow + ((outcome & SLOW) >> 1)
        verdict = core.verdict(done, failed, slow)
        nxt: Phase | None = None
        events: list[Event] | None = None
        trips = cell.trips
        if verdict is not None:
            if verdict.state is OPEN:
                trips += 1
                nxt = core.opened(self.monotonic(), trips, cause)
            else:
                trips = 0
                nxt = Phase(CLOSED, self.monotonic())
                cell.window.clear()  # unused while HALF_OPEN, so safe to clear before the commit
            events = self._moved_locked(phase, nxt, verdict.reason, manual=False)
        trial.settled = True  # commit: plain stores only from here
        phase.done, phase.failed, phase.slow = done, failed, slow
        if nxt is not None:
            cell.trips = trips
            cell.consecutive = 0
            cell.phase = nxt
        return events

    # -- transitions ----------------------------------------------------------------------

    def _moved_locked(self, old: Phase, new: Phase, reason: str, *, manual: bool) -> list[Event]:
        """Check the move against the table; the events to emit once it is committed."""
        check_transition(old.state, new.state, manual=manual)
        self.cell.moved(new, reason, manual)  # before the commit: a store checks it happened
        if old.state is new.state:
            return []
        return [StateChanged(self.name, old.state.name, new.state.name, reason)]

    def move(self, state: State, reason: str) -> None:
        """Manual control: go to ``state`` (CLOSED, FORCED_OPEN or DISABLED) at once."""
        cell = self.cell
        new = Phase(state, self.monotonic())
        with cell.lock:
            events = self._moved_locked(cell.phase, new, reason, manual=True)
            if state is CLOSED:
                cell.window.clear()
                cell.reset_rejections()
                cell.trips = 0
                cell.consecutive = 0
            cell.phase = new
        self._emit(events)

    def adopt(  # noqa: PLR0917 - the facts of one phase
        self,
        expected: Phase,
        state: State,
        since: float,
        until: float,
        trips: int,
        reason: str,
        commit: Callable[[Phase], None],
    ) -> None:
        """Install a phase the fleet decided (a shared store), if ``expected`` is still current.

        Not a transition of this breaker, so the table is not consulted: a
        process may learn of a trip after the breaker already half-opened
        elsewhere. ``commit(phase)`` runs under the lock with the phase now
        current (``expected`` itself when only the trip count changed in
        CLOSED, FORCED_OPEN or DISABLED). Nothing happens when this process
        moved on meanwhile: its own move is reconciled at the next sync.
        """
        cell = self.cell
        new = Phase(state, since, until)
        keep = state is expected.state and state not in (OPEN, HALF_OPEN)
        events: list[Event] = []
        if state is not expected.state:
            events.append(StateChanged(self.name, expected.state.name, state.name, reason))
        with cell.lock:
            if cell.phase is not expected:
                return
            if state is CLOSED and not keep:
                cell.window.clear()
                cell.consecutive = 0
            commit(expected if keep else new)
            cell.trips = trips  # commit: plain stores only from here
            if not keep:
                cell.phase = new
        self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        # State changes are rare: always built, for brace's log and status, then listeners.
        for event in events:
            notable(self._listeners, event)

    # -- observation ----------------------------------------------------------------------

    def observe(self, now: float) -> tuple[Phase, WindowSnapshot, int, int]:
        """The current phase (after any due OPEN -> HALF_OPEN move), window and counters."""
        cell = self.cell
        with cell.lock:
            phase, events = self._advance_locked(now)
            result = (phase, cell.window.snapshot(now), cell.consecutive, cell.rejected)
        if events:
            self._emit(events)
        return result

    def totals(self, now: float) -> tuple[int, int, int]:
        """Telemetry: ``(calls, failures, slow)`` settled since construction."""
        cell = self.cell
        with cell.lock:
            cell.window.snapshot(now)  # folds the successes counted lock-free
            ok, failed, slow, both = self.outcomes
            calls = ok + failed + slow + both + cell.window.lock_free_successes
        return calls, failed + both, slow + both

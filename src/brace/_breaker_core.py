"""The circuit breaker's decisions, as pure functions of facts, time and outcomes.

`BreakerCore` holds a breaker's validated configuration and answers the
questions the shell (``_breaker_machine.py``) asks, without locks, clocks,
events or context variables: may a call enter this phase now? what outcome
is this exception or result? does this outcome move the breaker, and to
which new `Phase`? The shell reads the facts, asks, and commits the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from brace._breaker_rules import Rule, Verdict
from brace._breaker_state import CLOSED, DISABLED, HALF_OPEN, OPEN, OpenSchedule, Phase
from brace._window import FAILED, SLOW

__all__ = ["ADMIT", "REJECT", "RELEASE", "TRIAL", "BreakerCore"]

# What `BreakerCore.admission` decides.
ADMIT: Final = 0  # run the call; nothing is held (CLOSED, DISABLED)
TRIAL: Final = 1  # run the call as a HALF_OPEN trial, holding one of its slots
REJECT: Final = 2  # refuse it with CircuitOpenError

#: `BreakerCore.outcome_of` for an exception that is no outcome at all: give the slot back.
RELEASE: Final = -1

_REASONS = {OPEN: "open", HALF_OPEN: "half-open with every trial slot taken"}


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerCore:
    """A breaker's configuration and every decision made from it; no state of its own."""

    rule: Rule
    schedule: OpenSchedule
    half_open_calls: int
    record: Callable[[BaseException], bool]
    ignore: Callable[[BaseException], bool]
    failure_if: Callable[[Any], object] | None
    slow_after: float | None

    # -- admission ----------------------------------------------------------------------

    @staticmethod
    def due(phase: Phase, now: float) -> bool:
        """Whether an OPEN ``phase`` has lasted its ``open_for`` (the one time-driven move)."""
        return phase.state is OPEN and now >= phase.until

    def admission(self, phase: Phase) -> int:
        """`ADMIT`, `TRIAL` or `REJECT` for a call arriving in ``phase``.

        An OPEN phase that is `due` is not decided here: the shell first moves
        to the HALF_OPEN phase `half_open` returns, then asks again.
        """
        state = phase.state
        if state is CLOSED or state is DISABLED:
            return ADMIT
        if state is HALF_OPEN and phase.admitted < self.half_open_calls:
            return TRIAL
        return REJECT

    @staticmethod
    def rejection(phase: Phase, now: float) -> tuple[str, float | None]:
        """Why a call is rejected in ``phase`` at ``now``, and seconds until a trial may enter."""
        if phase.state is OPEN:
            return "open", phase.until - now
        return _REASONS.get(phase.state, "forced open"), None

    @staticmethod
    def half_open(open_phase: Phase) -> Phase:
        """The HALF_OPEN phase that follows ``open_phase`` once it is due."""
        return Phase(HALF_OPEN, open_phase.until)

    # -- outcomes -----------------------------------------------------------------------

    def outcome_of(self, exc: BaseException | None) -> int:
        """The outcome bits of a call that raised ``exc`` (None: a plain failure).

        ``record`` makes it a failure, ``ignore`` or control flow (anything
        not an `Exception`) makes it `RELEASE`, any other exception counts
        as a success (resilience4j's rule).
        """
        if exc is None:
            return FAILED
        if not isinstance(exc, Exception) or self.ignore(exc):
            return RELEASE
        return FAILED if self.record(exc) else 0

    def outcome_of_result(self, result: object) -> int:
        """The outcome bits of a call that returned ``result`` (``failure_if`` may fail it)."""
        return FAILED if self.failure_if is not None and self.failure_if(result) else 0

    def timed(self, outcome: int, took: float) -> int:
        """``outcome`` with the `SLOW` bit set when the call took longer than ``slow_after``."""
        if self.slow_after is not None and took > self.slow_after:
            return outcome | SLOW
        return outcome

    # -- transitions --------------------------------------------------------------------

    def trip(self, calls: int, failures: int, slow: int, streak: int) -> str | None:
        """In CLOSED, with the window's counts after an outcome: the reason to open, or None."""
        return self.rule.trips(calls, failures, slow, streak)

    def verdict(self, done: int, failed: int, slow: int) -> Verdict | None:
        """In HALF_OPEN, with the trial counts after an outcome: close, re-open, or None."""
        return self.rule.verdict(done, failed, slow)

    def opened(self, now: float, trips: int, cause: BaseException | None) -> Phase:
        """The OPEN phase for consecutive trip number ``trips`` (1-based), entered at ``now``."""
        return Phase(OPEN, now, now + self.schedule.delay(trips), cause)

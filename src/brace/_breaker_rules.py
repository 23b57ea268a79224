"""The circuit breaker's two trip rules, as small strategy objects (Polly's ``CircuitBehavior``).

A rule answers two questions from counts alone, with no clock, lock or state
of its own:

* ``trips(calls, failures, slow, streak)``: in CLOSED, after an outcome was
  recorded, is it time to open? Returns the reason, or ``None``.
* ``verdict(done, failed, slow)``: in HALF_OPEN, after a trial finished,
  close, re-open, or wait for more trials? Returns a `Verdict` or ``None``.

`RateRule` (the default, resilience4j's) trips on a failure or slow-call
rate once the window holds ``minimum_calls``, and decides HALF_OPEN only once
every trial has finished. `StreakRule` trips on ``failures`` failures in a
row and re-opens on the first failed trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from brace._breaker_state import CLOSED, OPEN, State

__all__ = ["RateRule", "Rule", "StreakRule", "Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The end of a HALF_OPEN phase: move to ``state`` (CLOSED or OPEN) because of ``reason``."""

    state: State
    reason: str


class Rule(Protocol):
    """What a trip rule decides; see the module docstring."""

    #: Whether the rule needs the count of failures in a row (``streak``).
    streak: ClassVar[bool]

    def trips(self, calls: int, failures: int, slow: int, streak: int) -> str | None:
        """In CLOSED: the reason to open now, or ``None``."""
        ...

    def verdict(self, done: int, failed: int, slow: int) -> Verdict | None:
        """In HALF_OPEN, after ``done`` trials finished: close, re-open, or ``None`` (wait)."""
        ...


def _pct(value: float) -> str:
    return f"{value:.0%}"


@dataclass(frozen=True, slots=True)
class RateRule:
    """Trip when failures (or slow calls) reach a share of the window's calls."""

    failure_rate: float
    slow_rate: float
    minimum_calls: int
    trials: int  # half_open_calls: HALF_OPEN decides once this many have finished

    #: A rate rule ignores streaks.
    streak: ClassVar[bool] = False

    def _over(self, failures: int, slow: int, calls: int) -> str | None:
        parts = []
        if failures / calls >= self.failure_rate:
            parts.append(f"failure rate {_pct(failures / calls)} >= {_pct(self.failure_rate)}")
        if slow / calls >= self.slow_rate:
            parts.append(f"slow-call rate {_pct(slow / calls)} >= {_pct(self.slow_rate)}")
        return " and ".join(parts) or None

    def trips(self, calls: int, failures: int, slow: int, streak: int) -> str | None:  # noqa: ARG002
        """Open once the window holds ``minimum_calls`` and a rate reaches its threshold."""
        if calls < self.minimum_calls:
            return None
        over = self._over(failures, slow, calls)
        return None if over is None else f"{over} over {calls} calls"

    def verdict(self, done: int, failed: int, slow: int) -> Verdict | None:
        """Decide only when every trial has finished, by the same rates."""
        if done < self.trials:
            return None
        over = self._over(failed, slow, done)
        if over is not None:
            return Verdict(OPEN, f"{over} over {done} trial calls")
        return Verdict(CLOSED, f"{done} trial calls succeeded")


@dataclass(frozen=True, slots=True)
class StreakRule:
    """Trip on ``failures`` failures in a row; any failed trial re-opens at once."""

    failures: int
    trials: int

    #: A streak rule counts failures in a row.
    streak: ClassVar[bool] = True

    def trips(self, calls: int, failures: int, slow: int, streak: int) -> str | None:  # noqa: ARG002
        """Open once ``streak`` reaches ``failures``."""
        return f"{streak} consecutive failures" if streak >= self.failures else None

    def verdict(self, done: int, failed: int, slow: int) -> Verdict | None:  # noqa: ARG002
        """Re-open on the first failed trial; close once every trial has succeeded."""
        if failed:
            return Verdict(OPEN, "a trial call failed")
        if done < self.trials:
            return None
        return Verdict(CLOSED, f"{done} trial calls succeeded")

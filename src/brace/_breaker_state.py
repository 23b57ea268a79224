"""Circuit breaker states, the table of legal transitions, and the per-state record `Phase`."""

from __future__ import annotations

import enum
import math

__all__ = ["AUTOMATIC", "MANUAL", "Phase", "State", "check_transition"]


class State(enum.Enum):
    """The state of a `brace.CircuitBreaker`.

    CLOSED admits every call and watches the outcomes; OPEN rejects every
    call until ``open_for`` has passed; HALF_OPEN admits a few trial calls
    whose outcomes decide between CLOSED and OPEN; FORCED_OPEN rejects
    everything until ``reset()``; DISABLED admits everything and records
    nothing until ``reset()``.
    """

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    FORCED_OPEN = "FORCED_OPEN"
    DISABLED = "DISABLED"


CLOSED, OPEN, HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
FORCED_OPEN, DISABLED = State.FORCED_OPEN, State.DISABLED

#: Transitions the breaker makes on its own, driven by outcomes and time.
AUTOMATIC: frozenset[tuple[State, State]] = frozenset(
    {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (HALF_OPEN, OPEN)}
)
#: Transitions made by force_open(), disable() and reset(): legal from every state.
MANUAL: frozenset[tuple[State, State]] = frozenset(
    (old, new) for old in State for new in (FORCED_OPEN, DISABLED, CLOSED)
)


def check_transition(old: State, new: State, *, manual: bool) -> None:
    """Raise `RuntimeError` for a transition the table does not allow: it is a bug in brace."""
    if (old, new) not in (MANUAL if manual else AUTOMATIC):
        kind = "manual" if manual else "automatic"
        raise RuntimeError(f"illegal {kind} circuit breaker transition {old.name} -> {new.name}")


class Phase:
    """One stay in one state, with the facts that belong to it.

    A new `Phase` is installed on every transition and its ``state`` never
    changes, so a call can hold on to the phase that admitted it and record
    its outcome only if that phase is still current.

    Attributes:
        state: The state.
        since: Clock reading when the state was entered.
        until: OPEN only: when the next call becomes a trial (``inf`` otherwise).
        admitted: HALF_OPEN only: trial slots taken (in flight or finished).
        done: HALF_OPEN only: trials finished.
        failed: HALF_OPEN only: failed trials.
        slow: HALF_OPEN only: slow trials.
    """

    __slots__ = ("admitted", "done", "failed", "since", "slow", "state", "until")

    def __init__(self, state: State, since: float, until: float = math.inf) -> None:
        self.state = state
        self.since = since
        self.until = until
        self.admitted = 0
        self.done = 0
        self.failed = 0
        self.slow = 0

    def __repr__(self) -> str:
        return f"<Phase {self.state.name} since={self.since!r}>"

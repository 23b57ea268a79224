"""Circuit breaker states, the table of legal transitions, the per-state `Phase`, `open_for`."""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from brace import _validate
from brace._backoff import as_backoff
from brace._errors import ConfigError

__all__ = ["AUTOMATIC", "MANUAL", "OpenSchedule", "Phase", "State", "check_transition"]


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
        cause: OPEN only: the exception that tripped the breaker, if any (the
            ``__cause__`` of every rejection in this phase).
    """

    __slots__ = ("admitted", "cause", "done", "failed", "since", "slow", "state", "until")

    def __init__(
        self,
        state: State,
        since: float,
        until: float = math.inf,
        cause: BaseException | None = None,
    ) -> None:
        self.state = state
        self.since = since
        self.until = until
        self.cause = cause
        self.admitted = 0
        self.done = 0
        self.failed = 0
        self.slow = 0

    def __repr__(self) -> str:
        return f"<Phase {self.state.name} since={self.since!r}>"


class OpenSchedule:
    """How long the breaker stays OPEN on its k-th consecutive trip.

    ``open_for`` is seconds (``float | timedelta``), a Backoff (anything with
    ``.delays(rng)``) or an iterable of seconds, read as a Retry reads its
    backoff (`brace._backoff.as_backoff`; a one-shot iterator is remembered
    and replayed). The k-th trip since the breaker last closed waits the k-th
    delay; the last one repeats once the schedule runs out; the schedule
    starts over after a close.

    A schedule's first delay is read at construction, so an empty or bad one
    fails there. A bad delay read later cannot fail the trip: the previous
    delay is used and the error is kept in ``error`` for the breaker to raise
    once it has opened.
    """

    __slots__ = ("_delays", "_fixed", "_iter", "_seen", "describe", "error")

    def __init__(self, open_for: object, rng: random.Random | None) -> None:
        self.describe: object = open_for
        self.error: ConfigError | None = None
        self._seen: list[float] = []
        self._fixed: float | None = None
        custom = getattr(open_for, "delays", None)
        if callable(custom):
            self._delays: Callable[[], Iterator[Any]] = lambda: iter(custom(rng))
        elif hasattr(open_for, "__iter__") and not isinstance(open_for, str | bytes):
            backoff = as_backoff(open_for, "open_for")
            self._delays = lambda: backoff.delays(rng)
            self._iter = self._delays()
            if next(self._iter, None) is None:
                raise ConfigError(f"open_for={open_for!r} is empty; expected at least one delay")
        else:
            self._fixed = _validate.duration("open_for", open_for)
            self.describe = self._fixed
        self._iter = iter(())

    def delay(self, trip: int) -> float:
        """Seconds to stay OPEN on consecutive trip number ``trip`` (1-based)."""
        if self._fixed is not None:
            return self._fixed
        if trip <= 1:
            self._iter = self._delays()
            self._seen = []
        while len(self._seen) < trip:
            try:
                value = next(self._iter, None)
            except ConfigError as exc:
                self.error, value = exc, None
            if value is None:
                break
            self._seen.append(value)
        if not self._seen:
            return 0.0
        return self._seen[min(trip, len(self._seen)) - 1]

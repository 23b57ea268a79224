"""Circuit breaker states, the table of legal transitions, the per-state `Phase`, `open_for`."""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Iterator, Sequence
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
    ``.delays(rng)``) or an iterable of seconds. The k-th trip since the
    breaker last closed waits the k-th delay; the last one repeats once the
    schedule runs out. A Backoff or a sequence starts over after a close; a
    one-shot iterator cannot, so it keeps its place.
    """

    __slots__ = ("_fixed", "_iter", "_restart", "_seen", "describe")

    def __init__(self, open_for: object, rng: random.Random | None) -> None:
        self._fixed: float | None = None
        self._restart: Callable[[], Iterator[Any]] | None = None
        self._seen: list[float] = []
        self._iter: Iterator[Any] = iter(())
        self.describe: object = open_for
        delays = getattr(open_for, "delays", None)
        if callable(delays):
            self._restart = lambda: iter(delays(rng))
        elif isinstance(open_for, Sequence) and not isinstance(open_for, str | bytes):
            values = tuple(_validate.duration("open_for", v) for v in open_for)
            if not values:
                raise ConfigError("open_for=() is not allowed; expected at least one delay")
            self._restart = lambda: iter(values)
        elif hasattr(open_for, "__iter__") and not isinstance(open_for, str | bytes):
            # A one-shot iterator: read lazily and validated as it is read, like a Retry's
            # backoff; its first delay is read now, so an empty or bad one fails here.
            self._iter = as_backoff(open_for, "open_for").delays()
            first = next(self._iter, None)
            if first is None:
                raise ConfigError(f"open_for={open_for!r} is empty; expected at least one delay")
            self._seen = [first]
        else:
            self._fixed = _validate.duration("open_for", open_for)
            self.describe = self._fixed

    def delay(self, trip: int) -> float:
        """Seconds to stay OPEN on consecutive trip number ``trip`` (1-based)."""
        if self._fixed is not None:
            return self._fixed
        if trip <= 1 and self._restart is not None:
            self._iter = self._restart()
            self._seen = []
        while len(self._seen) < trip:
            value = next(self._iter, None)  # validated: a Backoff's delays are durations
            if value is None:
                break
            self._seen.append(value)
        if not self._seen:
            return 0.0
        return self._seen[min(trip, len(self._seen)) - 1]

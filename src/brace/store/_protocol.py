"""The circuit breaker's state protocol: the facts a store holds for one breaker.

A breaker keeps all its mutable state in a `BreakerCell` obtained from a
`BreakerStore`; its decisions never look anywhere else. The facts are plain
values a shared store (a Redis hash and a Lua script) could hold: the
current `Phase` (state, since, open-until, trial counts), the trip count
that picks the next ``open_for``, the failure streak, the window's counts
and the rejections. The in-memory store keeps them as attributes; a store
shared by processes keeps the same attributes locally and reconciles them
in the background, so the hot path never waits on the network.

Rules every implementation follows:

* Every write happens with ``cell.lock`` held. ``cell.phase`` is also read
  without it (an atomic attribute read) to admit calls cheaply. A `Phase` is
  therefore never reused across states: a state change installs a *new*
  `Phase` object, and a call admitted under one phase records its outcome
  only while that very object is still current.
* ``window`` is created once per cell and changed in place (``clear()`` on
  close or reset), never replaced. Its ``try_success`` and the cell's
  ``count_rejection`` are the two operations allowed without the lock.

Three hooks let a shared store follow the breaker without touching its
decisions; the in-memory cell's are empty. ``attach`` introduces the breaker
(its configuration, clock and events) to the cell; ``moved`` announces each
transition just before it is committed (so a store can publish it, and
ignore it if the commit never happened); ``lease`` asks, outside the lock,
for a fleet-wide slot for a HALF_OPEN trial that holds a local one.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from brace._breaker_state import Phase, Trial
from brace._window import CountWindow, TimeWindow, Window

__all__ = ["BreakerCell", "BreakerStore", "Lock"]


class Lock(Protocol):
    """What a cell's lock must offer: `threading.Lock` does."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool:
        """Take the lock."""
        ...

    def release(self) -> None:
        """Give the lock back."""
        ...

    def __enter__(self) -> bool: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BreakerCell(Protocol):
    """Mutable state of one circuit breaker.

    Attributes:
        phase: The current state and its facts (since when, open until, trial counts).
        trips: Consecutive trips since the breaker last closed; picks the ``open_for`` delay.
        consecutive: Failures in a row while CLOSED (for a streak rule).
    """

    phase: Phase
    trips: int
    consecutive: int

    @property
    def lock(self) -> Lock:
        """A non-reentrant lock guarding every write to the cell."""
        ...

    @property
    def window(self) -> Window:
        """The sliding window of recent outcomes, created from the breaker's window spec."""
        ...

    @property
    def rejected(self) -> int:
        """Calls rejected since the cell was made or `reset_rejections` last ran."""
        ...

    def count_rejection(self) -> object:
        """Count one rejected call; safe without the lock (the open breaker's hot path)."""
        ...

    def reset_rejections(self) -> None:
        """Start counting rejections from zero again (with the lock held)."""
        ...

    def attach(self, machine: object) -> None:
        """A breaker (its `brace._breaker_machine.BreakerMachine`) now uses this cell."""
        ...

    def moved(self, new: Phase, reason: str, manual: bool) -> None:
        """The breaker is about to install ``new`` (lock held); ``manual``: force_open & co."""
        ...

    def lease(self, trial: Trial) -> bool:
        """Whether ``trial`` (holding a local HALF_OPEN slot) may run; False gives it back.

        Called without the lock. A shared store grants at most
        ``half_open_calls`` such slots across every process.
        """
        ...


class BreakerStore(Protocol):
    """Where circuit breakers keep their state; pass one as ``CircuitBreaker(store=...)``."""

    def breaker_cell(self, name: str, window: CountWindow | TimeWindow, now: float) -> BreakerCell:
        """The cell for the breaker called ``name``; created CLOSED at ``now`` if new.

        Breakers built with the same store and name share one cell, hence
        one state.
        """
        ...

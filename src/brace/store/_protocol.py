"""The circuit breaker's state protocol: what a store must hold for one breaker.

A breaker keeps all its mutable state in a `BreakerCell` obtained from a
`BreakerStore`; its decision logic never looks anywhere else. The in-memory
store keeps plain attributes; a store shared by processes (Redis) returns a
cell that keeps the same attributes locally and reconciles them in the
background, so the hot path never waits on the network.

Rules every implementation follows:

* Every read and write of a cell happens with ``cell.lock`` held, except
  two on the hot paths. ``cell.phase`` is also read without the lock (an
  atomic attribute read) to admit calls cheaply. A `Phase` is therefore
  never reused across states: a state change installs a *new* `Phase`
  object, and a call admitted under one phase records its outcome only while
  that very object is still current. And ``next(cell.rejections)`` counts a
  rejection without the lock: it is an `itertools.count`, whose ``next`` is
  atomic in CPython.
* ``window`` is created once per cell and mutated in place (``clear()`` on
  close or reset), never replaced.
"""

from __future__ import annotations

import itertools
from types import TracebackType
from typing import Protocol

from brace._breaker_state import Phase
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
        phase: The current state and its facts (since when, trial counts, ...).
        trips: Consecutive trips since the breaker last closed; picks the ``open_for`` delay.
        consecutive: Failures in a row while CLOSED (consecutive mode).
        rejections: Advanced once per call rejected since construction or the
            last ``reset()`` (which installs a new one), and once per read.
        rejection_reads: How many times ``rejections`` was read (advanced to
            learn its value), so that count minus reads is the rejections.
    """

    phase: Phase
    trips: int
    consecutive: int
    rejections: itertools.count[int]
    rejection_reads: int

    @property
    def lock(self) -> Lock:
        """A non-reentrant lock guarding every attribute of the cell."""
        ...

    @property
    def window(self) -> Window:
        """The sliding window of recent outcomes, created from the breaker's window spec."""
        ...


class BreakerStore(Protocol):
    """Where circuit breakers keep their state; pass one as ``CircuitBreaker(store=...)``."""

    def breaker_cell(self, name: str, window: CountWindow | TimeWindow, now: float) -> BreakerCell:
        """The cell for the breaker called ``name``; created CLOSED at ``now`` if new.

        Breakers built with the same store and name share one cell, hence
        one state: that is how a shared store makes processes agree.
        """
        ...

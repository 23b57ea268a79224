"""The in-memory store: state lives in this process, guarded by a `threading.Lock`."""

from __future__ import annotations

import itertools
import threading

from brace._breaker_state import CLOSED, Phase, Trial
from brace._errors import ConfigError
from brace._window import CountWindow, TimeWindow, Window

__all__ = ["MemoryBreakerCell", "MemoryStore", "same_window"]


def same_window(name: str, held: CountWindow | TimeWindow, given: CountWindow | TimeWindow) -> None:
    """Raise `ConfigError` unless breaker ``name``'s cell (``held``) has the window ``given``."""
    if held != given:
        raise ConfigError(
            f"window={given!r} is not allowed for breaker {name!r}: this store "
            f"already holds it with window={held!r}; breakers sharing a "
            "name and store must share the window"
        )


class MemoryBreakerCell:
    """A `BreakerCell` held in plain attributes.

    Rejections are counted with an `itertools.count`, whose ``next`` is
    atomic in CPython, so an open breaker rejects without taking the lock;
    reading the count advances it too, and reads are subtracted.
    """

    __slots__ = (
        "_reads",
        "_rejections",
        "consecutive",
        "count_rejection",
        "lock",
        "phase",
        "spec",
        "trips",
        "window",
    )

    def __init__(self, spec: CountWindow | TimeWindow, now: float) -> None:
        self.lock = threading.Lock()
        self.spec = spec
        self.window: Window = spec.create()
        self.phase = Phase(CLOSED, now)
        self.trips = 0
        self.consecutive = 0
        self._rejections = itertools.count()
        self.count_rejection = self._rejections.__next__
        self._reads = 0

    @property
    def rejected(self) -> int:
        """Calls rejected since the cell was made or rejections were last reset."""
        value = next(self._rejections) - self._reads
        self._reads += 1
        return value

    def reset_rejections(self) -> None:
        """Start counting rejections from zero again."""
        self._reads = next(self._rejections) + 1

    def attach(self, machine: object) -> None:
        """Nothing to follow: the state lives here."""

    def moved(self, new: Phase, reason: str, manual: bool) -> None:
        """Nothing to publish."""

    def lease(self, trial: Trial) -> bool:  # noqa: ARG002 - BreakerCell protocol
        """Always: the local slot is the only one."""
        return True


class MemoryStore:
    """Keeps policy state in this process; breakers given the same store and name share it.

    Every breaker without ``store=`` gets a private cell, so two breakers that
    happen to share a name never share state by accident.
    """

    __slots__ = ("_breakers", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, MemoryBreakerCell] = {}

    def breaker_cell(
        self, name: str, window: CountWindow | TimeWindow, now: float
    ) -> MemoryBreakerCell:
        """The cell for breaker ``name``, created CLOSED at ``now`` on first use.

        Raises:
            ConfigError: a breaker of this name already uses a different window.
        """
        with self._lock:
            cell = self._breakers.get(name)
            if cell is None:
                cell = self._breakers[name] = MemoryBreakerCell(window, now)
            else:
                same_window(name, cell.spec, window)
            return cell

    def __repr__(self) -> str:
        return f"brace.store.MemoryStore({len(self._breakers)} breakers)"

"""A listener that keeps events for assertions."""

from __future__ import annotations

import threading
from typing import TypeVar

from brace._events import Event

__all__ = ["EventRecorder"]

E = TypeVar("E", bound=Event)


class EventRecorder:
    """Collects every event it receives; register it with ``policy.listen(recorder)``.

    Thread-safe. ``events`` is the list in arrival order; ``of(Type)`` filters it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events that are instances of ``kind``, in order."""
        with self._lock:
            return [event for event in self.events if isinstance(event, kind)]

    def kinds(self) -> list[str]:
        """The type names of the recorded events, in order."""
        with self._lock:
            return [type(event).__name__ for event in self.events]

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.events.clear()

    def __len__(self) -> int:
        return len(self.events)

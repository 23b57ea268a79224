"""Events that policies emit, and the listeners that receive them.

Events are frozen, slotted dataclasses of plain values (names, numbers,
strings: never live objects), so a listener can keep them, log them or ship
them across a process boundary. Listeners are plain callables registered on
one policy (``policy.listen(fn)``) or on all of them (``brace.listen(fn)``).

A listener that raises is logged once through ``logging.getLogger("brace")``
and counted after that; it never breaks or changes the call that emitted.
With no listener registered, a policy reads one flag and builds nothing.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

__all__ = [
    "BudgetExhausted",
    "BulkheadFull",
    "CallRejected",
    "Event",
    "FallbackUsed",
    "GaveUp",
    "Listeners",
    "Queued",
    "RetryScheduled",
    "StateChanged",
    "StoreRecovered",
    "StoreUnavailable",
    "Subscription",
    "TimedOut",
    "emit",
    "listen",
]

_log = logging.getLogger("brace")

Listener = Callable[["Event"], Any]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every brace event; ``policy`` is the emitting policy's name."""

    policy: str


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """A circuit breaker moved from ``old`` to ``new`` state (names of `brace.State`)."""

    old: str
    new: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallRejected(Event):
    """A policy refused a call; ``reason`` says why, ``retry_after`` when to try again."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class RetryScheduled(Event):
    """Attempt ``attempt`` failed with ``exception`` (a type name); next try in ``delay`` s."""

    attempt: int
    delay: float
    exception: str | None


@dataclass(frozen=True, slots=True)
class GaveUp(Event):
    """A retry stopped for ``reason`` after ``attempts`` attempts and ``elapsed`` seconds.

    ``note`` is the note added to the last exception; ``exception`` that
    exception's type name (None when the last attempt returned a result that
    ``on_result`` rejected).
    """

    reason: str
    attempts: int
    elapsed: float
    note: str = ""
    exception: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetExhausted(Event):
    """A retry budget had no token left for a retry."""

    attempts: int


@dataclass(frozen=True, slots=True)
class TimedOut(Event):
    """A call ran out of time; ``source`` is ``"timeout"`` or ``"deadline"``."""

    timeout: float
    source: str


@dataclass(frozen=True, slots=True)
class FallbackUsed(Event):
    """Alternative ``level`` (1 = first) answered a call that failed with ``exception``."""

    level: int
    exception: str | None


@dataclass(frozen=True, slots=True)
class BulkheadFull(Event):
    """A bulkhead rejected a call: every slot busy and the queue full (or the wait too long)."""

    in_flight: int
    queued: int


@dataclass(frozen=True, slots=True)
class Queued(Event):
    """A call waits for a bulkhead slot; ``queued`` counts the waiters including it."""

    queued: int


@dataclass(frozen=True, slots=True)
class StoreUnavailable(Event):
    """A shared store stopped answering; policies on it run on their local state meanwhile.

    ``policy`` names the policy whose store operation failed first, ``store``
    the store (its address, no password), ``error`` what went wrong
    (``"TimeoutError: ..."``).
    """

    store: str
    error: str


@dataclass(frozen=True, slots=True)
class StoreRecovered(Event):
    """A shared store answers again after ``outage`` seconds; policies share state again.

    ``policy`` names the policy whose store operation succeeded first.
    """

    store: str
    outage: float


class Subscription:
    """A registered listener; ``remove()`` (or leaving its ``with`` block) unregisters it.

    ``failures`` counts how many times the listener raised.
    """

    __slots__ = ("_registries", "failures", "fn")

    def __init__(self, fn: object, registries: tuple[Listeners, ...]) -> None:
        if not callable(fn):
            raise TypeError(
                f"listener={fn!r} is not callable; expected a callable taking one event"
            )
        self.fn: Listener = fn
        self.failures = 0
        self._registries = registries
        for registry in registries:
            registry._add(self)

    def remove(self) -> None:
        """Stop delivering events to this listener (idempotent)."""
        for registry in self._registries:
            registry._remove(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<brace.Subscription {self.fn!r} failures={self.failures}>"


class Listeners:
    """A copy-on-write set of subscriptions: emitting reads a tuple without a lock.

    ``active`` is true when this set or the global one has a listener: the
    one attribute a policy reads before building an event, so a policy with
    nobody listening pays a single attribute check.
    """

    __slots__ = ("__weakref__", "active", "subs")

    def __init__(self) -> None:
        self.subs: tuple[Subscription, ...] = ()
        with _LOCK:
            self.active = bool(_GLOBAL_SUBS)
            _ALL.add(self)

    def _mute(self) -> None:
        """Deliver nothing from now on, not even to global listeners (see `muted`)."""
        with _LOCK:
            _ALL.discard(self)
            self.subs = ()
            self.active = False

    def add(self, fn: object) -> Subscription:
        """Register ``fn``; raises `TypeError` if it is not callable."""
        return Subscription(fn, (self,))

    def _add(self, sub: Subscription) -> None:
        with _LOCK:
            self._set_locked((*self.subs, sub))

    def _remove(self, sub: Subscription) -> None:
        with _LOCK:
            self._set_locked(tuple(s for s in self.subs if s is not sub))

    def _set_locked(self, subs: tuple[Subscription, ...]) -> None:
        global _GLOBAL_SUBS  # noqa: PLW0603 - the global set's size gates every policy's flag
        self.subs = subs
        if self is GLOBAL:
            _GLOBAL_SUBS = bool(subs)
            for registry in _ALL:
                registry.active = bool(registry.subs) or _GLOBAL_SUBS
        else:
            self.active = bool(subs) or _GLOBAL_SUBS


# Every registry, so a change to the global set can refresh each one's ``active`` flag.
_ALL: weakref.WeakSet[Listeners] = weakref.WeakSet()
_LOCK = threading.Lock()
_GLOBAL_SUBS = False

GLOBAL = Listeners()


def listen(fn: Listener) -> Subscription:
    """Send every event from every policy to ``fn``; returns a handle that removes it."""
    return GLOBAL.add(fn)


def _deliver(sub: Subscription, event: Event) -> None:
    try:
        sub.fn(event)
    except Exception:
        sub.failures += 1
        if sub.failures == 1:
            _log.exception(
                "brace listener %r raised on %s; the call goes on, and later failures "
                "of this listener are only counted (Subscription.failures)",
                sub.fn,
                type(event).__name__,
            )


def emit(local: Listeners, event: Event) -> None:
    """Deliver ``event`` to ``local``'s listeners, then the global ones; never raises."""
    for sub in local.subs:
        _deliver(sub, event)
    for sub in GLOBAL.subs:
        _deliver(sub, event)

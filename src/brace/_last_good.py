"""LastGood: serve the last successful result of a call when it fails.

The core is `_Cache`, a bounded least-recently-used map from a key (derived
from the call's arguments) to the last good value and when it was stored;
it takes ``now`` from its caller and never reads a clock. `LastGood` is a
policy on its own (``@brace.LastGood(max_age=60)``) and an alternative
inside a `brace.Fallback` chain, where it learns every success of the
protected call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta
from typing import Any

from brace import _validate
from brace._clock import Clock
from brace._errors import ConfigError, set_note
from brace._events import FallbackUsed, emit
from brace._flow import Flow
from brace._policy import Args, Kwargs
from brace._substitute import Substitute

__all__ = ["LastGood"]

# Separates positional from keyword arguments in the default key, so f(1, a=2) and
# f(1, ("a", 2)) never share an entry.
_NO_KWARGS: frozenset[tuple[str, Any]] = frozenset()


class _Cache:
    """Last good values by key, least recently used evicted beyond ``max_entries``.

    Every operation is O(1) and takes the lock once; ``now`` comes from the caller.
    """

    __slots__ = ("_entries", "_lock", "max_age", "max_entries")

    def __init__(self, max_age: float, max_entries: int) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[object, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: Hashable, value: object, now: float) -> None:
        with self._lock:
            self._entries[key] = (value, now)
            self._entries.move_to_end(key)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get(self, key: Hashable, now: float) -> tuple[bool, object]:
        """``(True, value)`` if a value at most ``max_age`` old is stored, else a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            value, stored = entry
            if now - stored > self.max_age:
                # Stale values never become fresh again; dropping them frees memory early.
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class LastGood(Substitute):
    """Remember the last successful result per key and serve it when the call fails.

    As a decorator it returns the call's result and remembers it; when the
    call raises, it returns the value remembered for the same key if that is
    at most ``max_age`` seconds old, and otherwise re-raises the failure with
    a note. Inside a `brace.Fallback` chain it is an alternative that learns
    every success of the protected call.

    Like `Fallback`, it does not check the deadline on entry, so an expired
    deadline (a `brace.TimeoutExceededError` from inside) serves the cached value.

    Args:
        max_age: Seconds (or a ``timedelta``) a remembered value stays
            servable; > 0, may be ``math.inf``.
        key: ``key(*args, **kwargs)`` returns a hashable key; default: the
            arguments themselves. A call whose key cannot be computed or
            hashed is neither remembered nor served.
        max_entries: Keys remembered at most; the least recently used is
            evicted. Default 1024.
        clock: Where ages are measured. Default: the system clock.
        name: Used in events and notes. Default ``"lastgood"``.
    """

    def __init__(
        self,
        max_age: float | timedelta,
        *,
        key: Callable[..., Hashable] | None = None,
        max_entries: int = 1024,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(None if name is None else _validate.name("name", name))
        age = _validate.duration("max_age", max_age, allow_zero=False, allow_inf=True)
        entries = _validate.positive_int("max_entries", max_entries)
        if key is not None and not callable(key):
            raise ConfigError(
                f"key={key!r} is not callable; expected a function of the call's arguments "
                "returning a hashable key, or None for the arguments themselves"
            )
        self._key: Callable[..., Hashable] | None = key
        self._clock: Clock = _validate.clock("clock", clock)
        self._cache = _Cache(age, entries)

    @property
    def max_age(self) -> float:
        """Seconds a remembered value stays servable."""
        return self._cache.max_age

    @property
    def max_entries(self) -> int:
        """Keys remembered at most."""
        return self._cache.max_entries

    def _key_of(self, args: Args, kwargs: Kwargs) -> Hashable:
        if self._key is None:
            # The arguments themselves; keywords compared regardless of their order.
            return (args, frozenset(kwargs.items()) if kwargs else _NO_KWARGS)
        return self._key(*args, **kwargs)

    def _learn(self, args: Args, kwargs: Kwargs, value: object) -> None:
        """Remember ``value`` for these arguments; never raises into the caller's call."""
        # try/except rather than contextlib.suppress: this runs on every success.
        try:  # noqa: SIM105
            self._cache.put(self._key_of(args, kwargs), value, self._clock.monotonic())
        except Exception:  # noqa: S110 - an unkeyable call is simply not remembered
            pass

    def _lookup(self, args: Args, kwargs: Kwargs) -> tuple[bool, object]:
        try:
            return self._cache.get(self._key_of(args, kwargs), self._clock.monotonic())
        except Exception:
            return False, None

    def _miss_note(self) -> str:
        return f"LastGood {self.name!r} had no value younger than max_age={self.max_age:g} s"

    def _failed(self, exc: Exception, args: Args, kwargs: Kwargs, box: list[Any]) -> Flow:
        # A flow that runs nothing: the answer is in the cache or nowhere.
        yield from ()
        found, value = self._lookup(args, kwargs)
        if not found:
            set_note(exc, self._miss_note(), key=f"LastGood {self.name!r} ")
            try:
                raise exc
            finally:
                del exc  # no reference cycle through this frame in the traceback
        if self._listeners.active:
            emit(self._listeners, FallbackUsed(self.name, 1, type(exc).__name__))
        box[0] = value

    def _succeeded(self, result: object, args: Args, kwargs: Kwargs, box: list[Any]) -> None:  # noqa: ARG002
        self._learn(args, kwargs, result)

    def clear(self) -> None:
        """Forget every remembered value."""
        self._cache.clear()

    def __len__(self) -> int:
        """How many keys are remembered (stale ones included until looked up or evicted)."""
        return len(self._cache)

    def _config(self) -> dict[str, object]:
        return {"max_age": self.max_age, "max_entries": self.max_entries}

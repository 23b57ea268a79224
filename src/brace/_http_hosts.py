"""`HostBreakers`: one circuit breaker per host, made on first use, bounded in number.

One client usually talks to several hosts; one breaker for all of them would
let a single dead host shut off the healthy ones. This policy keeps a
breaker per authority (``host[:port]``), created the first time a request
goes there and named ``f"{name}:{authority}"`` so errors, events and metrics
say which host it guards. At most ``max_hosts`` are kept: the least recently
used is dropped first (a dropped host starts again from a closed breaker).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace import _validate
from brace._breaker import CircuitBreaker
from brace._calls import shell
from brace._clock import Clock
from brace._deadline import _CURRENT as _DEADLINE
from brace._deadline import check_deadline
from brace._errors import ConfigError
from brace._http_request import CURRENT, authority
from brace._policy import Policy
from brace._unasync import sync_twin

__all__ = ["BreakerFactory", "HostBreakers"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Given the breaker's full name (``"name:host"``), a new `CircuitBreaker`.
BreakerFactory = Callable[[str], CircuitBreaker]


class HostBreakers(Policy):
    """A `CircuitBreaker` per host, chosen by the request in flight.

    Put it where a breaker goes in a pipeline (inside the retry). The host
    is the current request's authority (see `brace.http.current_request`),
    set by brace's HTTP integrations; a call made outside them uses one
    breaker named ``name``.

    Args:
        name: Prefix of every breaker's name. Required.
        breaker: Builds a breaker from its full name. Default: a
            `CircuitBreaker` with its own defaults.
        max_hosts: Breakers kept at once, >= 1; past it the least recently
            used is dropped. Default 100.
        clock: Used by the default ``breaker`` factory. Default the system clock.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        breaker: BreakerFactory | None = None,
        *,
        max_hosts: int = 100,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(_validate.name("name", name))
        if breaker is not None and not callable(breaker):
            raise ConfigError(
                f"breaker={breaker!r} is not allowed; expected None or a callable taking the "
                "breaker's name and returning a brace.CircuitBreaker"
            )
        self.max_hosts = _validate.positive_int("max_hosts", max_hosts)
        checked = _validate.clock("clock", clock)
        self._factory: BreakerFactory = breaker or (lambda n: CircuitBreaker(n, clock=checked))
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._lock = threading.Lock()

    def _config(self) -> dict[str, object]:
        return {"max_hosts": self.max_hosts}

    def __repr__(self) -> str:
        return f"brace.http.{super().__repr__().removeprefix('brace.')}"

    def breaker(self, host: str) -> CircuitBreaker:
        """The breaker for ``host`` (an authority or a URL), made now if there is none."""
        key = authority(host) if "/" in host else host
        with self._lock:
            found = self._breakers.get(key)
            if found is not None:
                self._breakers.move_to_end(key)
                return found
        made = self._factory(f"{self.name}:{key}" if key else self.name)
        if not isinstance(made, CircuitBreaker):
            raise TypeError(f"{self!r}: breaker factory returned {made!r}, not a CircuitBreaker")
        with self._lock:
            found = self._breakers.setdefault(key, made)  # another thread may have made one
            self._breakers.move_to_end(key)
            while len(self._breakers) > self.max_hosts:
                self._breakers.popitem(last=False)
        return found

    def get(self, host: str) -> CircuitBreaker | None:
        """The breaker for ``host`` (an authority or a URL) if one exists; makes none."""
        key = authority(host) if "/" in host else host
        with self._lock:
            return self._breakers.get(key)

    def __iter__(self) -> Iterator[CircuitBreaker]:
        """The breakers kept now, least recently used first."""
        with self._lock:
            return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    def _pick(self, key: str) -> CircuitBreaker:
        """The breaker for an authority, most recently used now."""
        with self._lock:
            found = self._breakers.get(key)
            if found is not None:
                self._breakers.move_to_end(key)
                return found
        return self.breaker(key)

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        guarded, name = self._guarded(fn), self.name

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if _DEADLINE.get() is not None:
                check_deadline(name)
            return await guarded()(*args, **kwargs)

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap")

    def _guarded(self, fn: Callable[..., T]) -> Callable[[], Callable[..., T]]:
        """For ``fn``: a function giving ``fn`` decorated by the current request's breaker.

        Each breaker decorates ``fn`` once, on its first call; the decorated
        functions of breakers since dropped are forgotten with the others.
        """
        by_breaker: dict[CircuitBreaker, Callable[..., T]] = {}
        pick, limit = self._pick, self.max_hosts

        def guarded() -> Callable[..., T]:
            info = CURRENT.get()
            breaker = pick("" if info is None else info.authority)
            found = by_breaker.get(breaker)
            if found is None:
                if len(by_breaker) >= limit:
                    by_breaker.clear()
                found = by_breaker[breaker] = breaker(fn)
            return found

        return guarded

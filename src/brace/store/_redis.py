"""`RedisStore`: policies named alike in many processes share one state through Redis.

What each policy shares, and how often it talks to Redis:

* `brace.RateLimiter`: one GCRA script per call (one round trip), on Redis's clock.
* `brace.CircuitBreaker`: nothing on the call's path. Outcomes are counted in
  the process and reconciled every ``sync_interval`` by one script per breaker
  (`brace.store._redis_breaker`); HALF_OPEN trials are leases held in Redis.
* `brace.RetryBudget`: first attempts and retries flushed every ``sync_interval``
  into shared time buckets (`brace.store._redis_budget`).
* `brace.Bulkhead`: a lease per call, renewed while it runs, and a fleet-wide
  queue whose waiters block on Redis (`brace.store._redis_bulkhead`).

Every operation goes through the store's `brace.store._redis_link.Link`:
bounded by ``timeout``, never raising, guarded by a circuit breaker; when
Redis is away each policy decides on its local state, exactly as it would
with the in-memory store.

Keys are ``{prefix}:{{{name}}}:{kind}``: the policy name is percent-encoded
(so no two names share a key, whatever characters they hold) and braced as
a Redis Cluster hash tag, so one policy's keys live in one slot. Values are
numbers, strings and JSON: nothing is pickled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import quote

from brace import _validate
from brace._bulkhead_queue import Permits
from brace._errors import ConfigError
from brace._events import Listener, Listeners, Subscription
from brace._unasync import sync_twin
from brace._window import CountWindow, TimeWindow
from brace.store._memory import same_limits, same_window
from brace.store._rate import MemoryRateStore
from brace.store._redis_breaker import RedisBreakerCell
from brace.store._redis_budget import RedisBudgetCell
from brace.store._redis_bulkhead import RedisBulkhead
from brace.store._redis_clients import settings_of
from brace.store._redis_link import UNAVAILABLE, Link, Script, after_fork

__all__ = ["RedisStore"]

_log = logging.getLogger("brace")

_RATE = Script("rate", float)


class Syncable(Protocol):
    """State a store reconciles with Redis every ``sync_interval``."""

    def sync(self) -> None:
        """One reconciliation: flush local counts, read the shared state back."""
        ...


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ConfigError(
            f"prefix={prefix!r} is not allowed; expected a non-empty str without braces "
            "(braces would move the Redis Cluster hash tag)"
        )
    return prefix


class RedisStore:
    """Share policy state across processes and hosts through Redis.

    Pass one store to every policy that should be shared (``store=``):
    `brace.CircuitBreaker`, `brace.RateLimiter`, `brace.RetryBudget` and
    `brace.Bulkhead`. Policies of the same kind and name on stores that reach
    the same Redis (and ``prefix``) share one state, in any number of
    processes. When Redis is slow or down, every policy keeps working on its
    local state, `brace.StoreUnavailable` is emitted, and sharing resumes (with
    `brace.StoreRecovered`) once Redis answers again: a store problem never
    fails or delays a call by more than ``timeout``.

    The store opens its own connections, configured like the client (or URL)
    you give it: same address, database, credentials and TLS, but with
    ``timeout`` as socket timeout and no retries. Requires ``brace[redis]``.

    Args:
        client: A ``redis.Redis`` to take the connection settings from.
        async_client: A ``redis.asyncio.Redis`` to take them from instead.
        url: Or a URL: ``redis://``, ``rediss://`` (TLS), ``unix://``.
        prefix: First part of every key. Default ``"brace"``.
        sync_interval: Seconds between two reconciliations of a breaker,
            retry budget or bulkhead leases with Redis (> 0). Default 0.1.
        timeout: Longest any store operation may take, in seconds (> 0).
            Default 0.05.
        lease_ttl: Seconds a bulkhead permit or half-open trial lease lives
            without renewal: how soon a process that dies frees it (>= 10
            sync intervals). Default 5.0.

    Raises:
        ConfigError: not exactly one of ``client``, ``async_client``, ``url``;
            or a bad ``prefix``, ``sync_interval``, ``timeout`` or ``lease_ttl``.
    """

    def __init__(
        self,
        client: object = None,
        *,
        async_client: object = None,
        url: str | None = None,
        prefix: str = "brace",
        sync_interval: float | timedelta = 0.1,
        timeout: float | timedelta = 0.05,
        lease_ttl: float | timedelta = 5.0,
    ) -> None:
        self.prefix = _check_prefix(prefix)
        self.sync_interval = _validate.duration("sync_interval", sync_interval, allow_zero=False)
        self.timeout = _validate.duration("timeout", timeout, allow_zero=False)
        self.lease_ttl = _validate.duration("lease_ttl", lease_ttl, allow_zero=False)
        if self.lease_ttl < 10 * self.sync_interval:
            raise ConfigError(
                f"lease_ttl={lease_ttl!r} is out of range for sync_interval={sync_interval!r}; "
                "expected at least 10 sync intervals, so a live holder renews in time"
            )
        self._listeners = Listeners()
        self._link = Link(settings_of(client, async_client, url, self.timeout), self._listeners)
        self._local_rate = MemoryRateStore()
        self._rate_keys: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._parts: dict[tuple[str, str], Any] = {}
        self._syncables: list[Syncable] = []
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._closed = False
        self._token = secrets.token_hex(8)  # this process's name in leases and counts
        after_fork(self)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """A store for the Redis at ``url`` (sync and asyncio connections both).

        ``options`` are the other keyword arguments of `RedisStore`.
        """
        return cls(url=url, **options)

    def _forked(self) -> None:
        """In a forked child (gunicorn --preload): a new name, no background thread yet."""
        self._token = secrets.token_hex(8)
        self._thread = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        for part in self._syncables:
            forked = getattr(part, "forked", None)
            if forked is not None:
                forked()

    # -- keys -----------------------------------------------------------------------------

    def key(self, name: str, kind: str) -> str:
        """The Redis key of ``kind`` for the policy ``name``: one Cluster slot per name."""
        return f"{self.prefix}:{{{quote(name, safe='')}}}:{kind}"

    def _rate_key(self, name: str) -> list[str]:
        """``[key(name, "rate")]``, remembered: a rate-limited call asks on every call."""
        keys = self._rate_keys.get(name)
        if keys is None:
            if len(self._rate_keys) > 4096:
                self._rate_keys.clear()
            keys = self._rate_keys[name] = [self.key(name, "rate")]
        return keys

    # -- events ---------------------------------------------------------------------------

    def listen(self, fn: Listener) -> Subscription:
        """Send this store's `brace.StoreUnavailable` / `brace.StoreRecovered` to ``fn``."""
        return Subscription(fn, (self._listeners,))

    @property
    def available(self) -> bool:
        """Whether the last store operation reached Redis."""
        return self._link.available

    # -- background reconciliation ---------------------------------------------------------

    def _part(self, kind: str, name: str, make: Callable[[], Any]) -> Any:
        """The shared part ``(kind, name)`` of this store, made by ``make()`` on first use."""
        with self._lock:
            part = self._parts.get((kind, name))
            if part is None:
                part = self._parts[kind, name] = make()
                if callable(getattr(part, "sync", None)):
                    self._syncables.append(part)
            self._start_locked()
            return part

    def _start_locked(self) -> None:
        if self._closed or (self._thread is not None and self._pid == os.getpid()):
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(
            target=_sync_forever, args=(weakref.ref(self),), name="brace-redis-sync", daemon=True
        )
        self._thread.start()

    def sync(self) -> None:
        """Reconcile every shared breaker, budget and bulkhead with Redis now.

        The background thread does this every ``sync_interval``; tests and
        shutdown hooks call it to flush at once.
        """
        with self._lock:
            parts = list(self._syncables)
        for part in parts:
            try:
                part.sync()
            except Exception:  # a bug must not stop the other parts from syncing
                _log.exception("brace: syncing %r with Redis failed", part)

    def _sync_soon(self) -> None:
        """Sync now rather than at the next interval (a breaker moved: tell the fleet)."""
        self._wake.set()

    # -- RateStore ------------------------------------------------------------------------

    async def areserve(
        self, key: str, now: float, interval: float, burst: float, max_wait: float
    ) -> float:
        """Apply GCRA to ``key`` in Redis (one round trip); see `brace.store.RateStore`.

        ``now`` is used only when Redis is unavailable: the reservation is then
        made in this process's own limiter, on its clock.
        """
        result = await self._link.arun(_RATE, self._rate_key(key), [interval, burst, max_wait], key)
        if result is UNAVAILABLE:
            return self._local_rate.reserve(key, now, interval, burst, max_wait)
        return result  # type: ignore[no-any-return]

    reserve = sync_twin(areserve, "reserve", arun="run")

    def reset(self, key: str) -> None:
        """Forget ``key``'s rate state, shared and local: the next call sees a full bucket."""
        self._local_rate.reset(key)
        self._link.run(_DELETE, [self.key(key, "rate")], [], key)

    # -- BreakerStore ---------------------------------------------------------------------

    def breaker_cell(
        self, name: str, window: CountWindow | TimeWindow, now: float
    ) -> RedisBreakerCell:
        """The cell of breaker ``name``: local facts this store reconciles with the fleet.

        Raises:
            ConfigError: a breaker of this name on this store has another window.
        """

        def make() -> RedisBreakerCell:
            keys = [self.key(name, kind) for kind in ("breaker", "window", "trials")]
            settings = {
                "window": window_args(window, self.sync_interval),
                "lease_us": self.lease_ttl * 1e6,
                "token": lambda: self._token,
                "wake": self._sync_soon,
            }
            return RedisBreakerCell(
                self._link, keys=keys, name=name, spec=window, now=now, settings=settings
            )

        cell: RedisBreakerCell = self._part("breaker", name, make)
        same_window(name, cell.spec, window)
        return cell

    # -- BudgetStore ----------------------------------------------------------------------

    def budget_cell(
        self, name: str, ratio: float, min_per_second: float, window: float
    ) -> RedisBudgetCell:
        """The counts of retry budget ``name``, shared with the fleet.

        Raises:
            ConfigError: a budget of this name on this store has another configuration.
        """

        def make() -> RedisBudgetCell:
            settings = {
                "token": lambda: self._token,
                "proc_us": max(10 * self.sync_interval, 1.0) * 1e6,
                "ttl": int(max(2 * window, 60.0) * 1000),
            }
            return RedisBudgetCell(
                self._link,
                keys=[self.key(name, "budget"), self.key(name, "budget-processes")],
                name=name,
                ratio=ratio,
                min_per_second=min_per_second,
                window=window,
                settings=settings,
            )

        cell: RedisBudgetCell = self._part("budget", name, make)
        cell.check(name, ratio, min_per_second, window)
        return cell

    # -- bulkheads ------------------------------------------------------------------------

    def bulkhead_permits(self, name: str, max_concurrent: int, max_queue: int) -> Permits:
        """Bulkhead ``name``'s local permits: what it uses while Redis is unreachable.

        Raises:
            ConfigError: a bulkhead of this name on this store has other limits.
        """
        permits: Permits = self._part(
            "bulkhead-local", name, lambda: Permits(max_concurrent, max_queue)
        )
        same_limits(name, (permits.max_concurrent, permits.max_queue), (max_concurrent, max_queue))
        return permits

    def fleet_bulkhead(self, name: str, max_concurrent: int, max_queue: int) -> RedisBulkhead:
        """Bulkhead ``name``'s permits across the fleet: leases in Redis.

        Raises:
            ConfigError: a bulkhead of this name on this store has other limits.
        """

        def make() -> RedisBulkhead:
            settings = {
                "token": lambda: self._token,
                "lease_us": self.lease_ttl * 1e6,
                "ttl": int(max(self.lease_ttl * 2, 60.0) * 1000),
            }
            return RedisBulkhead(
                self._link,
                keys=[
                    self.key(name, kind) for kind in ("bulkhead", "bulkhead-queue", "bulkhead-wait")
                ],
                wake=self.key(name, "bulkhead-wake") + ":",
                name=name,
                max_concurrent=max_concurrent,
                max_queue=max_queue,
                settings=settings,
            )

        bulkhead: RedisBulkhead = self._part("bulkhead", name, make)
        bulkhead.check(name, max_concurrent, max_queue)
        return bulkhead

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background sync and close the connections (after a last sync)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with contextlib.suppress(Exception):
            self.sync()
        self._link.close()

    async def aclose(self) -> None:
        """`close`, and close the running event loop's connections too."""
        self.close()
        await self._link.aclose()

    def __repr__(self) -> str:
        return (
            f"brace.store.RedisStore({self._link.description!r}, prefix={self.prefix!r}, "
            f"sync_interval={self.sync_interval!r}, timeout={self.timeout!r})"
        )


_DELETE = Script("delete")


def _sync_forever(ref: weakref.ref[RedisStore]) -> None:
    """The background thread: sync every ``sync_interval`` until the store is closed or gone."""
    while True:
        store = ref()
        if store is None or store._closed:
            return
        wake, interval = store._wake, store.sync_interval
        store.sync()
        del store  # hold no reference while sleeping: an unused store can be collected
        wake.wait(interval)
        wake.clear()


def window_args(spec: CountWindow | TimeWindow, sync_interval: float) -> dict[str, object]:
    """A breaker window as the shared script sees it: bucket length (µs) and extent."""
    if isinstance(spec, TimeWindow):
        return {
            "kind": "time",
            "bucket": spec.seconds * 1e6 / spec.buckets,
            "buckets": spec.buckets,
            "size": 0,
        }
    return {"kind": "count", "bucket": sync_interval * 1e6, "buckets": 0, "size": spec.size}

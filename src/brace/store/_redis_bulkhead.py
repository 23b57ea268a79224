"""A bulkhead whose permits are counted across the fleet: leases in Redis.

Each call through a `brace.Bulkhead` on a `brace.store.RedisStore` takes a
lease (one script, ``lua/bulkhead.lua``) and gives it back when it ends (one
more): at most ``max_concurrent`` leases exist at once across every process.
The store's thread renews this process's leases every ``sync_interval``; a
process that dies (``kill -9``) stops renewing, and its permits come free
within ``lease_ttl``.

A call that finds every permit taken joins a fleet-wide FIFO queue (when
``max_queue`` allows) and blocks on its own Redis list (BLPOP, no polling):
whoever frees a permit hands it to the oldest waiter in the same script and
pushes onto that waiter's list. The wait is bounded by ``max_wait`` and the
deadline, measured in real time (Redis's waits are real); a waiter that
gives up hands on a permit granted at that very moment.

When Redis cannot be reached the call goes through the bulkhead's local
permits instead (``max_concurrent`` in this process), as an in-memory
bulkhead would.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import TYPE_CHECKING, Any, Final

from brace._clock import SYSTEM_CLOCK
from brace._events import Queued, emit
from brace._unasync import sync_twin
from brace.store._memory import same_limits
from brace.store._redis_clients import BLOCK_SLICE
from brace.store._redis_link import UNAVAILABLE, Link, Script

if TYPE_CHECKING:
    from brace._bulkhead import Bulkhead

__all__ = ["RedisBulkhead", "Ticket"]

_SCRIPT = Script("bulkhead", lambda reply: tuple(int(value) for value in reply))

# What the acquire script answers.
_FULL, _GRANTED, _QUEUED = 0, 1, 2
#: Seconds a waiter's queue entry outlives its own wait (its cancel may come late).
_GRACE: Final = 1.0


class Ticket:
    """One call's hold on a fleet permit: ``lease`` is set once the permit is its own."""

    __slots__ = ("lease",)

    def __init__(self) -> None:
        self.lease: str | None = None


class RedisBulkhead:
    """The fleet side of one bulkhead: its leases, its queue, and this process's counts.

    Args:
        link: The store's link to Redis.
        keys: The bulkhead's keys (leases, queue, queue deadlines).
        wake: The prefix of its waiters' wake-up lists.
        name: The bulkhead's name (store events).
        max_concurrent, max_queue: Its configuration.
        settings: ``token`` (a callable naming this process), ``lease_us``, ``ttl`` (ms).
    """

    def __init__(
        self,
        link: Link,
        *,
        keys: list[str],
        wake: str,
        name: str,
        max_concurrent: int,
        max_queue: int,
        settings: dict[str, Any],
    ) -> None:
        self._link = link
        self._keys = keys
        self._wake = wake
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self._settings = settings
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._held: set[Ticket] = set()
        self.queued = self.rejected = self.max_in_flight = self.max_queued = 0

    ticket = Ticket

    def check(self, name: str, max_concurrent: int, max_queue: int) -> None:
        """Raise `ConfigError` unless a bulkhead asking for this state has this configuration."""
        same_limits(name, (self.max_concurrent, self.max_queue), (max_concurrent, max_queue))

    def _args(self, op: str, lease: str = "", wait: float = 0.0) -> list[str]:
        args = {
            "op": op,
            "id": lease,
            "ids": [],
            "max": self.max_concurrent,
            "max_queue": self.max_queue,
            "lease_us": self._settings["lease_us"],
            "wait_us": wait * 1e6,
            "wake": self._wake,
            "ttl": self._settings["ttl"],
        }
        if op == "renew":
            with self._lock:
                args["ids"] = [ticket.lease for ticket in self._held]
        return [json.dumps(args)]

    def _hold(self, ticket: Ticket, lease: str) -> None:
        with self._lock:
            ticket.lease = lease
            self._held.add(ticket)
            self.max_in_flight = max(self.max_in_flight, len(self._held))

    # -- entering and leaving (written async; the sync twins are derived) ----------------

    async def aenter(self, ticket: Ticket, bulkhead: Bulkhead) -> bool:
        """Take a fleet permit into ``ticket``, waiting in the fleet's queue if allowed.

        Returns False when Redis cannot be asked (use the local permits);
        raises `BulkheadFullError` or, for a passed deadline,
        `TimeoutExceededError` having taken nothing.
        """
        by_deadline, budget = bulkhead._wait_budget()
        lease = f"{self._settings['token']()}:{next(self._ids)}"
        wait = budget + _GRACE if budget > 0 else 0.0
        reply = await self._link.arun(
            _SCRIPT, self._keys, self._args("acquire", lease, wait), self.name
        )
        if reply is UNAVAILABLE:
            return False
        status, in_flight, queued = reply
        if status == _GRANTED:
            self._hold(ticket, lease)
            return True
        if status == _FULL:
            with self._lock:
                self.rejected += 1
            raise bulkhead._full(in_flight, queued)
        granted: object = False
        try:
            with self._lock:
                self.queued += 1
                self.max_queued = max(self.max_queued, self.queued)
            if bulkhead._listeners.active:
                emit(bulkhead._listeners, Queued(bulkhead.name, queued + 1))
            granted = await self._await_grant(lease, budget)
            if granted is True:
                self._hold(ticket, lease)
                return True
        finally:
            with self._lock:
                self.queued -= 1
            if ticket.lease is None:  # expired, unavailable, or interrupted: leave the queue
                await self._link.arun(_SCRIPT, self._keys, self._args("cancel", lease), self.name)
        if granted is UNAVAILABLE:
            return False
        raise bulkhead._expired(by_deadline, self._count_rejection)

    def _count_rejection(self) -> tuple[int, int]:
        with self._lock:
            self.rejected += 1
            return len(self._held), self.queued

    async def _await_grant(self, lease: str, budget: float) -> object:
        """Block on the waiter's list until granted (True), ``budget`` ends (False) or Redis fails.

        Redis failing returns `UNAVAILABLE`; each BLPOP lasts at most `BLOCK_SLICE`.
        """
        expiry = SYSTEM_CLOCK.monotonic() + budget
        key = self._wake + lease
        while True:
            left = expiry - SYSTEM_CLOCK.monotonic()
            if left <= 0:
                return False
            got = await self._link.apop(key, min(left, BLOCK_SLICE), self.name)
            if got is UNAVAILABLE:
                return UNAVAILABLE
            if got is not None:
                return True

    async def aleave(self, ticket: Ticket) -> None:
        """Give the permit back; renewal stops first, so a lost release only waits for the TTL."""
        lease = ticket.lease
        with self._lock:
            self._held.discard(ticket)
            ticket.lease = None
        await self._link.arun(_SCRIPT, self._keys, self._args("release", lease or ""), self.name)

    enter = sync_twin(aenter, "enter", arun="run", _await_grant="_wait_grant")
    _wait_grant = sync_twin(_await_grant, "_wait_grant", apop="pop")
    leave = sync_twin(aleave, "leave", arun="run")

    # -- background -----------------------------------------------------------------------

    def sync(self) -> None:
        """Renew this process's leases; hand out the permits of holders that died."""
        self._link.run(_SCRIPT, self._keys, self._args("renew"), self.name)

    def in_flight(self) -> int:
        """Calls of this process holding a fleet permit now."""
        return len(self._held)

    def counts(self) -> tuple[int, int, int, int, int]:
        """``(in_flight, queued, rejected, max_in_flight, max_queued)`` in this process."""
        with self._lock:
            return (
                len(self._held),
                self.queued,
                self.rejected,
                self.max_in_flight,
                self.max_queued,
            )

    def forked(self) -> None:
        """In a forked child: the parent's permits are the parent's."""
        self._held = set()
        self._lock = threading.Lock()
        self.queued = 0

    def __repr__(self) -> str:
        return f"<RedisBulkhead {self.name!r} max_concurrent={self.max_concurrent}>"

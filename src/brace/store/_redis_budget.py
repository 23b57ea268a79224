"""A retry budget shared through Redis: counts flushed in batches, retries spent from claims.

`RedisBudgetCell` keeps the in-memory budget's sliding counts (what it
decides on while Redis is unreachable) and counts what happened since the
last sync. Every ``sync_interval`` the store's thread sends those counts to
``lua/budget.lua``, which adds them to shared time buckets (the window, on
Redis's clock) and answers with this process's *claim*: its share of the
retries the fleet has left: of the ``ceil(ratio * D + reserve - R)``
retries still allowed (D first attempts and R retries in the window), a
share weighted by the retries each live process took in its last interval
(plus one, so an idle process keeps a little ready), rounded up, never more
than the other processes leave unclaimed. Until the next sync the process
may take its claim plus one retry per ``1 / ratio`` first attempts it makes
itself. A process whose claim is spent waits for its next sync for more,
even when another process holds an unused claim: the budget errs on the
side of fewer retries.

So the fleet never spends more than the budget's arithmetic allows, except
for first attempts that leave the window between two syncs: within one
interval the fleet exceeds ``ratio * first attempts + min_per_second *
window`` by at most ``ratio`` times the first attempts that aged out of the
window during that interval (claims were granted while they still counted).
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from brace.store._budget import EPSILON, MemoryBudgetCell
from brace.store._redis_link import UNAVAILABLE, Link, Script

__all__ = ["BUCKETS", "RedisBudgetCell"]

_SCRIPT = Script("budget", lambda reply: float(json.loads(reply)["claim"]))

#: Time buckets per window in Redis: counts leave the shared window 1/20 of it late at most.
BUCKETS = 20


class RedisBudgetCell(MemoryBudgetCell):
    """One retry budget's counts in this process, reconciled with the fleet's.

    Args:
        link: The store's link to Redis.
        keys: The budget's keys (buckets, processes).
        name: The budget's name (for store events).
        ratio, min_per_second, window: The budget's configuration.
        settings: ``token`` (a callable naming this process), ``proc_us`` (how long a
            process that stopped syncing still holds its claim), ``ttl`` (ms).
    """

    __slots__ = ("_claim", "_keys", "_link", "_name", "_settings", "_sync_lock", "_unsent")

    def __init__(
        self,
        link: Link,
        *,
        keys: list[str],
        name: str,
        ratio: float,
        min_per_second: float,
        window: float,
        settings: dict[str, Any],
    ) -> None:
        super().__init__(ratio, min_per_second, window)
        self._link = link
        self._keys = keys
        self._name = name
        self._settings = settings
        self._claim: float | None = None  # None: decide on the local counts
        self._unsent = [0, 0]  # first attempts, retries since the last sync
        self._sync_lock = threading.Lock()

    def deposit(self, now: float) -> None:
        """Count one first attempt, locally and for the next sync."""
        with self.lock:
            self.deposits.add(now)
            self._unsent[0] += 1

    def took_locked(self, now: float) -> None:
        """Count one retry, locally and for the next sync."""
        self.retries.add(now)
        self._unsent[1] += 1

    def try_withdraw(self, now: float) -> bool:
        """Take one retry if this process's claim (or, Redis away, its local budget) allows."""
        if self._claim is None and self._link.up:
            self.sync()  # first use, or just back: claim a share before spending any
        return super().try_withdraw(now)

    def allowance(self, now: float) -> float:
        """Retries this process may take now."""
        if self._claim is None and self._link.up:
            self.sync()
        return super().allowance(now)

    def allowance_locked(self, now: float) -> float:
        """The claim plus what this process earned since; the local budget when Redis is away."""
        claim = self._claim
        if claim is None:
            return super().allowance_locked(now)
        # Retries earned by this process's own first attempts count once whole: a fraction
        # spent in each of P processes would be P retries the fleet never earned.
        return claim + math.floor(self.ratio * self._unsent[0] + EPSILON) - self._unsent[1]

    def sync(self) -> None:
        """Flush the counts since the last sync; take this process's new claim."""
        with self._sync_lock:
            with self.lock:
                deposits, retries = self._unsent
            args = {
                "d": deposits,
                "r": retries,
                "bucket": self.deposits.window * 1e6 / BUCKETS,
                "buckets": BUCKETS,
                "ratio": self.ratio,
                "reserve": self.reserve,
                "token": self._settings["token"](),
                "proc_us": self._settings["proc_us"],
                "ttl": self._settings["ttl"],
            }
            claim = self._link.run(_SCRIPT, self._keys, [json.dumps(args)], self._name)
            with self.lock:
                if claim is UNAVAILABLE:
                    self._claim = None
                    return
                self._unsent[0] -= deposits
                self._unsent[1] -= retries
                self._claim = claim

    def forked(self) -> None:
        """In a forked child: the parent's claim and unsent counts are the parent's."""
        self._claim = None
        self._unsent = [0, 0]
        self._sync_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<RedisBudgetCell {self._name!r} claim={self._claim!r}>"

"""What brace observes of each policy itself: counts, rejection summaries, recent transitions.

Every policy's listener set is a `Telemetry` (a `brace._events.Listeners`
with a little more). Policies report to it at a few well-marked points:

* ``rejected()`` on every rejection: one atomic count and one comparison;
  every so often it reads the clock and writes brace's rejection summary
  (`brace._logging.log_rejections`), at most one line per `SUMMARY_EVERY`
  seconds per policy;
* ``retried()`` on every retry: one atomic count;
* `notable` for the rare events (state changes, give-ups, store trouble),
  which are built whether or not anyone listens: brace logs them and keeps a
  breaker's last transitions for `brace.status()`.

The counts are monotonic since construction, so exporters compute rates.
Named policies are listed, weakly, for `brace.policies()`.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from brace._clock import SYSTEM_CLOCK, Clock
from brace._events import Event, GaveUp, Listeners, StateChanged, emit
from brace._logging import SUMMARY_EVERY, SWITCH, log_event, log_rejections

if TYPE_CHECKING:
    from brace._policy import Policy

__all__ = ["Counter", "Telemetry", "Transition", "notable", "policies", "register"]

_log = logging.getLogger("brace")

#: Most rejections between two looks at the clock while a summary is not yet due.
MAX_STRIDE = 1024
#: Transitions a breaker remembers for the status page.
HISTORY = 10


class Counter:
    """A monotonic count that any thread bumps without a lock.

    ``add`` is an `itertools.count`'s ``__next__``, atomic in CPython. A read
    advances the count too, so reads are counted and subtracted (under a
    lock, so concurrent readers agree).
    """

    __slots__ = ("_count", "_lock", "_reads", "add")

    def __init__(self) -> None:
        self._count = itertools.count()
        #: Count one; returns the raw position (adds and reads so far), for `Telemetry`.
        self.add = self._count.__next__
        self._reads = 0
        self._lock = threading.Lock()

    def read(self) -> tuple[int, int]:
        """``(raw position, count)``: the position is what ``add`` returns next, minus one."""
        with self._lock:
            raw = next(self._count)
            value = raw - self._reads
            self._reads += 1
            return raw, value

    @property
    def value(self) -> int:
        """How many times ``add`` was called."""
        return self.read()[1]


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change remembered for the status page (``at``: wall clock, ``mono``: monotonic)."""

    at: float
    mono: float
    old: str
    new: str
    reason: str


class Telemetry(Listeners):
    """One policy's listeners, plus what brace observes of the policy itself.

    See the module docstring. ``policy`` is held weakly (the policy holds
    this object); ``listed`` adds the policy to `brace.policies()`.
    """

    __slots__ = (
        "_checked_at",
        "_checked_raw",
        "_clk",
        "_guard",
        "_last_line",
        "_logged",
        "_policy",
        "_rejections",
        "check_at",
        "gave_up",
        "name",
        "policy_type",
        "quiet",
        "retried",
        "retries",
        "tick",
        "transitions",
    )

    def __init__(self, policy: Policy, *, listed: bool, quiet: bool = False) -> None:
        super().__init__()
        #: For policies brace runs for itself (the breaker guarding a store's link): no log
        #: lines, no listeners (not even global ones); what they mean is reported otherwise.
        self.quiet = quiet
        if quiet:
            self._mute()
        self._policy: weakref.ref[Policy] = weakref.ref(policy)
        self.name = policy.name
        self.policy_type = type(policy).__name__
        self._rejections = Counter()
        #: Count one rejection; returns the raw count to compare with ``check_at``.
        self.tick = self._rejections.add
        #: The raw count at which `check` should look at the clock again.
        self.check_at = 0
        self._checked_raw = 0  # raw count and clock reading at the last look
        self._checked_at = 0.0
        self._logged = 0  # rejections already reported in the log
        self._last_line: float | None = None  # when the last summary was written
        self._guard = threading.Lock()
        self._clk: Clock | None = None
        self.retries = Counter()
        #: Count one retry (hot path of a retrying call: one atomic count).
        self.retried = self.retries.add
        self.gave_up = Counter()
        self.transitions: collections.deque[Transition] = collections.deque(maxlen=HISTORY)
        if listed:
            register(policy)

    # -- rejections ---------------------------------------------------------------------

    def rejected(self) -> None:
        """Count one rejection; now and then, write the log's summary (see the module doc)."""
        if self.tick() >= self.check_at:
            self.check()

    @property
    def rejections(self) -> int:
        """Rejections since construction."""
        return self._rejections.value

    def _clock(self) -> Clock:
        """The policy's clock (its subclass sets it after this object is made), found once."""
        clock = self._clk
        if clock is None:
            found = getattr(self._policy(), "_clock", None)
            clock = self._clk = found if isinstance(found, Clock) else SYSTEM_CLOCK
        return clock

    def check(self) -> None:
        """Write a summary if one is due; else look again about halfway to when it will be."""
        if self.quiet:
            self.check_at = self._rejections.read()[0] + MAX_STRIDE
            return
        if not self._guard.acquire(blocking=False):
            return  # another thread is looking right now
        try:
            raw, total = self._rejections.read()
            if not SWITCH.enabled:
                self._logged = total
                self.check_at = raw + MAX_STRIDE  # off: look again now and then
                return
            now = self._clock().monotonic()
            last = self._last_line
            if last is None or now - last >= SUMMARY_EVERY:
                self._summarise(total, now)
                stride = 1
            else:
                # Look again about halfway to when the summary is due, at the recent rate.
                seconds = now - self._checked_at
                rate = (raw - self._checked_raw) / seconds if seconds > 0 else math.inf
                wanted = rate * (last + SUMMARY_EVERY - now) / 2
                stride = MAX_STRIDE if wanted >= MAX_STRIDE else max(int(wanted), 1)
            self._checked_raw, self._checked_at = raw, now
            self.check_at = raw + stride
        except Exception:
            _failed(f"summarise the rejections of {self.name!r}")
        finally:
            self._guard.release()

    def _summarise(self, total: int, now: float) -> None:
        count = total - self._logged
        if count <= 0:
            return
        last = self._last_line
        log_rejections(self.policy_type, self.name, count, None if last is None else now - last)
        self._logged = total
        self._last_line = now

    def _flush(self, now: float) -> None:
        """Report rejections not yet summarised (before a state change is logged)."""
        if self._last_line is None or not self._guard.acquire(blocking=False):
            return
        try:
            self._summarise(self._rejections.read()[1], now)
        finally:
            self._guard.release()

    # -- notable events -----------------------------------------------------------------

    def note(self, event: Event) -> None:
        """Record a notable ``event`` of this policy and write its log line."""
        if self.quiet:
            return
        if type(event) is StateChanged:
            clock = self._clock()
            now = clock.monotonic()
            self.transitions.append(
                Transition(clock.wall(), now, event.old, event.new, event.reason)
            )
            if SWITCH.enabled:
                self._flush(now)
        elif type(event) is GaveUp:
            self.gave_up.add()
        log_event(event, self.policy_type)


_failures = itertools.count()


def _failed(what: str) -> None:
    """Log (with the traceback) the first failure of brace's own telemetry; count the rest."""
    if next(_failures) == 0:
        _log.exception(
            "brace could not %s; the call goes on, and later telemetry failures are not logged",
            what,
        )


def notable(local: Listeners, event: Event) -> None:
    """Deliver a rare event: brace's own record and log first, then the listeners, if any.

    Never raises: a failure here is logged (the first time) and the call goes on.
    """
    try:
        if isinstance(local, Telemetry):
            local.note(event)
        else:
            log_event(event, "Policy")
    except Exception:
        _failed(f"record {event!r}")
    if local.active:
        emit(local, event)


# -- the registry of named policies ---------------------------------------------------

_LIVE: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_SERIAL = itertools.count()


def register(policy: Policy) -> None:
    """List ``policy`` in `policies` for as long as it is alive."""
    _LIVE[next(_SERIAL)] = policy


def policies() -> list[Policy]:
    """The live named policies, oldest first.

    A policy is listed when it is given a name (``CircuitBreaker("payments")``),
    and held weakly: once the application drops it, it disappears from the
    list. Pipelines are not listed; the policies in them are.
    """
    return [policy for _, policy in sorted(_LIVE.items(), key=lambda item: item[0])]

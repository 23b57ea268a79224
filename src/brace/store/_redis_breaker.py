"""A circuit breaker shared through Redis: facts kept locally, reconciled every ``sync_interval``.

`RedisBreakerCell` is a `brace.store.MemoryBreakerCell`, so a call's path is
exactly the in-memory one: no round trip, no lock on a healthy success. What
the cell adds runs beside it:

* Its window carries a `brace._window.Tally` of the outcomes recorded since
  the last sync, and ``moved`` remembers this process's last transition.
* ``sync`` (the store's background thread, every ``sync_interval``) sends
  both to one Lua script (``lua/breaker.lua``), which merges the counts into
  shared time buckets, applies the transition if the shared state has not
  moved since this process last saw it (a manual one always), evaluates the
  same rule on the fleet's counts and answers with the shared phase. A phase
  that differs from what this process knows is adopted
  (`brace._breaker_machine.BreakerMachine.adopt`): a trip anywhere is seen
  everywhere within one interval.
* ``lease`` asks Redis for a HALF_OPEN trial slot, so that at most
  ``half_open_calls`` trials run across the fleet; leases are renewed at each
  sync while the trial runs and expire if its process dies.

A phase of the shared state is named by ``(gen, epoch)``; ``gen`` changes when
the state is created anew (an emptied or restarted server), and a process
whose local phase is unknown there re-creates the shared state from its own.
While Redis is unreachable the breaker decides alone, as an in-memory one
(outcomes counted meanwhile stay local).
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
import threading
import weakref
from typing import TYPE_CHECKING, Any, cast

from brace._breaker_state import HALF_OPEN, OPEN, Phase, State, Trial
from brace._window import CountRing, CountWindow, Tally, TimeRing, TimeWindow
from brace.store._memory import MemoryBreakerCell
from brace.store._redis_link import UNAVAILABLE, Link, Script

if TYPE_CHECKING:
    from brace._breaker_machine import BreakerMachine

__all__ = ["RedisBreakerCell"]

_FIELDS = ("gen", "epoch", "state", "since", "till", "trips", "how", "why", "now", "mine")


def _shared(reply: str) -> dict[str, Any]:
    """The script's answer, checked: a reply without these facts is a store failure."""
    shared: dict[str, Any] = json.loads(reply)
    missing = [field for field in _FIELDS if field not in shared]
    if missing or shared["state"] not in State.__members__:
        raise ValueError(f"unexpected reply from Redis: {reply[:200]!r}")
    return shared


_SCRIPT = Script("breaker", _shared)

#: Seconds a breaker's keys outlive the last process that synced them.
IDLE_TTL = 24 * 3600.0

_NOWHERE = ("", -1)  # (gen, epoch) before the first sync


def _us(seconds: float) -> float:
    return seconds * 1e6


class RedisBreakerCell(MemoryBreakerCell):
    """One breaker's facts in this process, plus what reconciles them with the fleet.

    Args:
        link: The store's link to Redis.
        keys: The breaker's three keys (state, window, leases).
        name: The breaker's name (for store events).
        spec: Its window.
        now: The creating breaker's clock reading.
        settings: ``window`` (as the script sees it), ``lease_us``, ``token`` (a callable
            naming this process) and ``wake`` (asks for a sync soon).
    """

    __slots__ = (
        "_denied",
        "_ids",
        "_keys",
        "_link",
        "_machines",
        "_manual_sent",
        "_manual_seq",
        "_name",
        "_proposal",
        "_reported",
        "_settings",
        "_shared_phase",
        "_sync_lock",
        "_synced",
        "_trials",
        "tally",
    )

    def __init__(
        self,
        link: Link,
        *,
        keys: list[str],
        name: str,
        spec: CountWindow | TimeWindow,
        now: float,
        settings: dict[str, Any],
    ) -> None:
        super().__init__(spec, now)
        self.tally = Tally()
        cast("CountRing | TimeRing", self.window).tally = self.tally
        self._link = link
        self._keys = keys
        self._name = name
        self._settings = settings
        self._machines: list[weakref.ref[BreakerMachine]] = []
        self._sync_lock = threading.RLock()
        self._synced = _NOWHERE
        self._shared_phase: Phase | None = None
        self._proposal: tuple[Phase, str, bool] | None = None
        self._manual_seq = self._manual_sent = 0
        self._reported: tuple[Phase | None, int, int, int] = (None, 0, 0, 0)
        self._trials: list[Trial] = []
        self._denied: Phase | None = None
        self._ids = itertools.count()

    # -- the BreakerCell hooks ----------------------------------------------------------

    def attach(self, machine: object) -> None:
        """Follow ``machine``: its rule, clock and listeners serve the reconciliation."""
        self._machines.append(weakref.ref(machine))  # type: ignore[arg-type]

    def moved(self, new: Phase, reason: str, manual: bool) -> None:
        """Remember this process's transition, to publish at the next sync."""
        if new.state is HALF_OPEN and not manual:
            return  # the one time-driven move: Redis makes it itself
        if manual:
            self._manual_seq += 1
        self._proposal = (new, reason, manual)
        self._settings["wake"]()  # publish now: the fleet then sees it within one interval

    def lease(self, trial: Trial) -> bool:
        """A fleet-wide trial slot from Redis; granted as well when Redis cannot be asked."""
        if trial.phase is self._denied:
            return False  # the fleet's slots were taken: no round trip until the next sync
        machine = self._machine()
        if machine is None:
            return True
        lease_id = f"{self._settings['token']()}:{next(self._ids)}"
        # Not beside a sync: the lease may be what moves the shared state to HALF_OPEN, and a
        # sync answered in between would replace this trial's phase with that same move,
        # dropping the trial's outcome (reentrant: a listener of a sync may call the breaker).
        with self._sync_lock:
            with self.lock:
                args = self._args(machine, "lease", trial.phase, machine.monotonic())
            args["id"] = lease_id
            shared = self._link.run(_SCRIPT, self._keys, [json.dumps(args)], self._name)
            if shared is UNAVAILABLE:
                return True
            if not shared.get("granted"):
                self._denied = trial.phase
                return False
            if shared["state"] == "HALF_OPEN":
                trial.lease = lease_id
                with self.lock:
                    self._trials.append(trial)
                    if self.phase is trial.phase and self._shared_phase is not trial.phase:
                        self._key_locked(trial.phase, shared)
            return True

    # -- reconciliation -----------------------------------------------------------------

    def _machine(self) -> BreakerMachine | None:
        for ref in self._machines:
            machine = ref()
            if machine is not None:
                return machine
        return None

    def _key_locked(self, phase: Phase, shared: dict[str, Any]) -> None:
        """``phase`` is the shared phase ``shared`` names (lock held)."""
        self._synced = (shared["gen"], shared["epoch"])
        self._shared_phase = phase
        self._reported = (phase, phase.done, phase.failed, phase.slow)

    def _facts(self, phase: Phase, now: float, reason: str) -> dict[str, Any]:
        remaining = phase.until - now if phase.state is OPEN else 0.0
        return {
            "state": phase.state.name,
            "why": reason,
            "open": _us(max(remaining, 0.0)),
            "trips": self.trips,
        }

    def _args(self, machine: BreakerMachine, op: str, phase: Phase, now: float) -> dict[str, Any]:
        """What every operation tells the script (lock held)."""
        core = machine.core
        rule = core.rule
        return {
            "op": op,
            "gen_new": secrets.token_hex(6),
            "gen": self._synced[0],
            "epoch": self._synced[1],
            "rule": {
                "mode": "streak" if rule.streak else "rate",
                "rate": getattr(rule, "failure_rate", 1.0),
                "slow_rate": getattr(rule, "slow_rate", 1.0),
                "minimum": getattr(rule, "minimum_calls", 1),
                "streak": getattr(rule, "failures", 0),
                "trials": core.half_open_calls,
            },
            "init": self._facts(phase, now, "shared by this process"),
            "lease_us": self._settings["lease_us"],
            "ttl": int(IDLE_TTL * 1000),
        }

    def sync(self) -> None:
        """One reconciliation with Redis (the store's thread calls this every interval)."""
        machine = self._machine()
        if machine is not None:
            with self._sync_lock:
                self._sync(machine)

    def _sync(self, machine: BreakerMachine) -> None:
        now = machine.monotonic()
        with self.lock:
            phase = self.phase
            args = self._args(machine, "sync", phase, now)
            args["win"] = self._settings["window"]
            args["d"] = self.tally.drain()
            # open_for of the next few trips: the script picks by the fleet's trip count.
            delay = machine.core.schedule.delay
            args["open_for"] = [_us(delay(k)) for k in range(1, min(self.trips + 2, 16) + 1)]
            proposal = self._proposal if self._proposal and self._proposal[0] is phase else None
            manual = self._manual_seq
            if proposal is not None:
                args["prop"] = self._facts(phase, now, proposal[1])
                args["prop"]["manual"] = manual != self._manual_sent
            report = self._report_locked(phase)
            if report is not None:
                args["trial"] = report
            trials = list(self._trials)
            self._denied = None
        settled = [trial for trial in trials if trial.settled]
        args["settled"] = [trial.lease for trial in settled]
        args["renew"] = [trial.lease for trial in trials if not trial.settled]
        shared = self._link.run(_SCRIPT, self._keys, [json.dumps(args)], self._name)
        if shared is UNAVAILABLE:
            return  # the counts drained stay local; the move is published once Redis is back
        with self.lock:
            self._trials = [trial for trial in self._trials if trial not in settled]
            if report is not None:
                self._reported = (phase, report["done_to"], report["failed_to"], report["slow_to"])
            if proposal is not None and self._proposal is proposal:
                self._proposal = None
            self._manual_sent = manual
            if shared["mine"]:
                # The shared phase is the one sent, even if this process moved on since:
                # its move is then published from there at the next sync.
                self._key_locked(phase, shared)
                return
            if (shared["gen"], shared["epoch"]) == self._synced:
                return
        self._adopt(machine, phase, shared)

    def _report_locked(self, phase: Phase) -> dict[str, Any] | None:
        """This process's HALF_OPEN trial outcomes not yet reported, for the shared phase."""
        if phase.state is not HALF_OPEN or phase is not self._shared_phase:
            return None
        was, done, failed, slow = self._reported
        if was is not phase:
            done = failed = slow = 0
        if (phase.done, phase.failed, phase.slow) == (done, failed, slow):
            return None
        return {
            "gen": self._synced[0],
            "epoch": self._synced[1],
            "done": phase.done - done,
            "failed": phase.failed - failed,
            "slow": phase.slow - slow,
            "done_to": phase.done,
            "failed_to": phase.failed,
            "slow_to": phase.slow,
        }

    def _adopt(self, machine: BreakerMachine, phase: Phase, shared: dict[str, Any]) -> None:
        """Install the fleet's phase in place of ``phase`` (if this process did not move on)."""
        now = machine.monotonic()
        state = State[shared["state"]]
        ahead = (shared["till"] - shared["now"]) / 1e6
        until = now + ahead if state is OPEN else math.inf
        since = now - (shared["now"] - shared["since"]) / 1e6
        reason = _reason(machine, shared)

        def commit(new: Phase) -> None:
            self._key_locked(new, shared)

        machine.adopt(phase, state, since, until, int(shared["trips"]), reason, commit)

    def forked(self) -> None:
        """In a forked child: the parent's trials are not running here."""
        self._trials = []
        self._denied = None
        self._sync_lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<RedisBreakerCell {self._name!r} {self.phase.state.name}>"


def _reason(machine: BreakerMachine, shared: dict[str, Any]) -> str:
    """Why the fleet's phase began, in the words the breaker's own rule uses."""
    how, why = shared["how"], shared["why"]
    core = machine.core
    text: str | None = why
    if how == "trip":
        calls, failed, slow, streak = (float(part) for part in why.split())
        text = core.trip(round(calls), round(failed), round(slow), int(streak))
    elif how == "verdict":
        done, failed, slow = (int(part) for part in why.split())
        verdict = core.verdict(done, failed, slow)
        text = None if verdict is None else verdict.reason
    return f"{text or 'the shared rule'} (shared state)"

"""What a run measured: per-second buckets, then figures per strategy.

Requests and attempts are counted in the second they *started*; in-flight
work, queue length, utilisation and breaker state are sampled at the end of
each second, and breaker transitions are logged at the exact virtual time
they happen. A request ends fresh (the dependency answered it), degraded (a
fallback answered) or failed. Several runs of one strategy (different
seeds) add into one `Recorder`, so the figures are pooled over the runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEGRADED",
    "FAILED",
    "FRESH",
    "BreakerTransition",
    "IncidentFigures",
    "Recorder",
    "StrategyResult",
    "TimelinePoint",
    "percentile",
    "recovery_seconds",
    "summarise",
]

#: How close (absolute) the success rate must come back to its pre-incident level.
RECOVERY_MARGIN = 0.05
#: For how many consecutive seconds it must stay there to count as recovered.
RECOVERY_HOLD = 5

#: How a logical request ended.
FRESH, DEGRADED, FAILED = 0, 1, 2

# Most severe first: pooled runs report the worst breaker state seen in a second.
_BREAKER_SEVERITY = {"forced_open": 4, "open": 3, "half_open": 2, "closed": 1, "disabled": 0}


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of an ascending list; None if empty."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A circuit breaker changed state at virtual time ``t`` of run ``run`` (0 = first seed)."""

    run: int
    t: float
    policy: str
    old: str
    new: str
    reason: str


class Recorder:
    """Per-second counters for one strategy (and one dependency), filled while it simulates."""

    def __init__(self, duration: float) -> None:
        self.seconds = max(1, math.ceil(duration))
        n = self.seconds
        self.runs = 0
        self.started = [0] * n
        self.fresh = [0] * n
        self.degraded = [0] * n
        self.attempts = [0] * n
        self.late_attempts = 0  # attempts made after the last second (requests still finishing)
        self.latencies: list[list[float]] = [[] for _ in range(n)]
        self.in_flight = [0] * n
        self.queue = [0] * n
        self.busy_seconds = [0.0] * n
        self.servers = [0] * n
        self.breaker: list[str | None] = [None] * n
        self.transitions: list[BreakerTransition] = []
        self.workers_busy: list[int] | None = None
        self.service_starts = 0  # attempts that started service at the dependency
        self.queue_wait = 0.0  # seconds they waited in its queue first, in total

    def attempt(self, now: float) -> None:
        """Count one attempt reaching the dependency at virtual time ``now``."""
        index = int(now)
        if index < self.seconds:
            self.attempts[index] += 1
        else:
            self.late_attempts += 1

    def request(self, start: float, latency: float, outcome: int) -> None:
        """Record one logical request that started at ``start``, took ``latency`` and ended so."""
        index = int(start)
        if index < self.seconds:
            self.started[index] += 1
            self.latencies[index].append(latency)
            if outcome == FRESH:
                self.fresh[index] += 1
            elif outcome == DEGRADED:
                self.degraded[index] += 1

    def sample(self, second: int, in_flight: int, queue: int, busy: float, servers: int) -> None:
        """Add the end-of-second samples for ``second``."""
        self.in_flight[second] += in_flight
        self.queue[second] += queue
        self.busy_seconds[second] += busy
        self.servers[second] += servers

    def breaker_state(self, second: int, state: str | None) -> None:
        """Note the breaker state at the end of ``second``, keeping the worst over runs."""
        old = self.breaker[second]
        if old is None or (
            state is not None and _BREAKER_SEVERITY.get(state, 0) > _BREAKER_SEVERITY.get(old, 0)
        ):
            self.breaker[second] = state

    def workers(self, second: int, busy: int) -> None:
        """Add the end-of-second count of the caller's busy workers."""
        if self.workers_busy is None:
            self.workers_busy = [0] * self.seconds
        self.workers_busy[second] += busy

    @classmethod
    def merge(cls, parts: Sequence[Recorder], duration: float) -> Recorder:
        """One recorder adding up ``parts`` (the dependencies of one strategy)."""
        total = cls(duration)
        total.runs = max((p.runs for p in parts), default=0)
        for part in parts:
            for name in ("started", "fresh", "degraded", "attempts", "in_flight", "queue"):
                mine, theirs = getattr(total, name), getattr(part, name)
                for i, value in enumerate(theirs):
                    mine[i] += value
            for i in range(total.seconds):
                total.busy_seconds[i] += part.busy_seconds[i]
                total.servers[i] += part.servers[i]
                total.latencies[i].extend(part.latencies[i])
                total.breaker_state(i, part.breaker[i])
            total.late_attempts += part.late_attempts
            total.service_starts += part.service_starts
            total.queue_wait += part.queue_wait
            total.transitions.extend(part.transitions)
            if part.workers_busy is not None:
                total.workers_busy = part.workers_busy
        total.transitions.sort(key=lambda tr: (tr.run, tr.t))
        return total


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One simulated second of one strategy (counts are means per run).

    ``success_rate`` (fresh answers) and ``served_rate`` (fresh or degraded)
    are None for a second in which no request started. ``workers_busy`` is
    None unless the scenario has a worker pool.
    """

    t: int
    requests: float
    successes: float
    degraded: float
    success_rate: float | None
    served_rate: float | None
    attempts: float
    in_flight: float
    queue_length: float
    utilisation: float
    latency_p50: float | None
    latency_p99: float | None
    breaker: str | None
    workers_busy: float | None = None


@dataclass(frozen=True, slots=True)
class IncidentFigures:
    """What a strategy did while the incident lasted (requests and attempts started inside it).

    ``load_factor`` is the attempts per second reaching the dependency during
    the incident divided by the attempts per second before it began (None
    when there were none before).
    """

    requests: int
    successes: int
    degraded: int
    served_rate: float
    success_rate: float
    attempts_per_second: float
    normal_attempts_per_second: float
    load_factor: float | None


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """The figures for one strategy in one scenario (pooled over runs).

    ``successes`` are fresh answers from the dependency; ``degraded`` are
    answers a fallback gave instead; ``served_rate`` is both over all logical
    requests. ``recovery_seconds`` is the time after the incident ends until
    the fresh success rate is back within 5 points of its pre-incident level
    (and stays there for 5 s), or None if it did not recover before the run
    ended. Latencies are of logical requests, failures included: what the
    caller waited. ``mean_queue_wait`` is the mean time an attempt waited in
    the dependency's queue before a server took it. ``dependencies`` holds
    the same figures per dependency when the scenario's service calls
    several (else it is empty).
    """

    name: str
    runs: int
    logical_requests: int
    successes: int
    degraded: int
    success_rate: float
    served_rate: float
    attempts: int
    amplification: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    recovery_seconds: float | None
    timeline: tuple[TimelinePoint, ...]
    mean_queue_wait: float | None = None
    incident: IncidentFigures | None = None
    transitions: tuple[BreakerTransition, ...] = ()
    dependencies: dict[str, StrategyResult] = field(default_factory=dict)


def recovery_seconds(
    started: list[int], succeeded: list[int], incident: tuple[float, float] | None
) -> float | None:
    """Seconds from the end of ``incident`` until the per-second success rate is back.

    "Back" means within `RECOVERY_MARGIN` of the rate before the incident
    began, for `RECOVERY_HOLD` consecutive seconds (or until the run ends).
    None: no incident, or it did not recover.
    """
    if incident is None:
        return None
    begin, end = incident
    before = int(begin)
    total = sum(started[:before])
    baseline = sum(succeeded[:before]) / total if total else 1.0
    n = len(started)

    def good(i: int) -> bool:
        return started[i] == 0 or succeeded[i] / started[i] >= baseline - RECOVERY_MARGIN

    first = math.ceil(end)
    for b in range(first, n):
        if all(good(i) for i in range(b, min(b + RECOVERY_HOLD, n))):
            return float(max(0.0, b - end))
    return None


def _incident_figures(
    rec: Recorder, incident: tuple[float, float] | None
) -> IncidentFigures | None:
    if incident is None:
        return None
    begin, end = max(0, math.floor(incident[0])), min(rec.seconds, math.ceil(incident[1]))
    if end <= begin:
        return None
    inside = range(begin, end)
    requests = sum(rec.started[i] for i in inside)
    fresh = sum(rec.fresh[i] for i in inside)
    degraded = sum(rec.degraded[i] for i in inside)
    runs = max(rec.runs, 1)
    during = sum(rec.attempts[i] for i in inside) / (runs * (end - begin))
    normal = sum(rec.attempts[:begin]) / (runs * begin) if begin else 0.0
    return IncidentFigures(
        requests=requests,
        successes=fresh,
        degraded=degraded,
        served_rate=(fresh + degraded) / requests if requests else 0.0,
        success_rate=fresh / requests if requests else 0.0,
        attempts_per_second=during,
        normal_attempts_per_second=normal,
        load_factor=during / normal if normal else None,
    )


def _timeline(rec: Recorder) -> tuple[TimelinePoint, ...]:
    runs = max(rec.runs, 1)
    points = []
    for t in range(rec.seconds):
        lat = sorted(rec.latencies[t])
        started, fresh, degraded = rec.started[t], rec.fresh[t], rec.degraded[t]
        points.append(
            TimelinePoint(
                t=t,
                requests=started / runs,
                successes=fresh / runs,
                degraded=degraded / runs,
                success_rate=fresh / started if started else None,
                served_rate=(fresh + degraded) / started if started else None,
                attempts=rec.attempts[t] / runs,
                in_flight=rec.in_flight[t] / runs,
                queue_length=rec.queue[t] / runs,
                utilisation=rec.busy_seconds[t] / rec.servers[t] if rec.servers[t] else 0.0,
                latency_p50=percentile(lat, 0.5),
                latency_p99=percentile(lat, 0.99),
                breaker=rec.breaker[t],
                workers_busy=None if rec.workers_busy is None else rec.workers_busy[t] / runs,
            )
        )
    return tuple(points)


def summarise(
    name: str,
    rec: Recorder,
    incident: tuple[float, float] | None,
    dependencies: dict[str, StrategyResult] | None = None,
) -> StrategyResult:
    """Turn a filled `Recorder` into a `StrategyResult`."""
    every = sorted(x for bucket in rec.latencies for x in bucket)
    requests = sum(rec.started)
    successes = sum(rec.fresh)
    degraded = sum(rec.degraded)
    attempts = sum(rec.attempts) + rec.late_attempts
    return StrategyResult(
        name=name,
        runs=max(rec.runs, 1),
        logical_requests=requests,
        successes=successes,
        degraded=degraded,
        success_rate=successes / requests if requests else 0.0,
        served_rate=(successes + degraded) / requests if requests else 0.0,
        attempts=attempts,
        amplification=attempts / requests if requests else 0.0,
        latency_p50=percentile(every, 0.5),
        latency_p95=percentile(every, 0.95),
        latency_p99=percentile(every, 0.99),
        recovery_seconds=recovery_seconds(rec.started, rec.fresh, incident),
        timeline=_timeline(rec),
        mean_queue_wait=rec.queue_wait / rec.service_starts if rec.service_starts else None,
        incident=_incident_figures(rec, incident),
        transitions=tuple(rec.transitions),
        dependencies=dependencies or {},
    )

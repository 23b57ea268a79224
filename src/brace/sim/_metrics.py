"""What a run measured: per-second buckets, then figures per strategy.

Requests and attempts are counted in the second they *started*; in-flight
work, queue length, utilisation and breaker state are sampled at the end of
each second. Several runs of one strategy (different seeds) add into one
`Recorder`, so the figures are pooled over the runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Recorder", "StrategyResult", "TimelinePoint", "percentile", "recovery_seconds"]

#: How close (absolute) the success rate must come back to its pre-incident level.
RECOVERY_MARGIN = 0.05
#: For how many consecutive seconds it must stay there to count as recovered.
RECOVERY_HOLD = 5

# Most severe first: pooled runs report the worst breaker state seen in a second.
_BREAKER_SEVERITY = {"forced_open": 4, "open": 3, "half_open": 2, "closed": 1, "disabled": 0}


def percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of an ascending list; None if empty."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Recorder:
    """Per-second counters for one strategy, filled by the runner while it simulates."""

    def __init__(self, duration: float) -> None:
        self.seconds = max(1, math.ceil(duration))
        n = self.seconds
        self.runs = 0
        self.started = [0] * n
        self.succeeded = [0] * n
        self.attempts = [0] * n
        self.late_attempts = 0  # attempts made after the last second (requests still finishing)
        self.latencies: list[list[float]] = [[] for _ in range(n)]
        self.in_flight = [0] * n
        self.queue = [0] * n
        self.busy_seconds = [0.0] * n
        self.servers = [0] * n
        self.breaker: list[str | None] = [None] * n

    def attempt(self, now: float) -> None:
        """Count one attempt reaching the dependency at virtual time ``now``."""
        index = int(now)
        if index < self.seconds:
            self.attempts[index] += 1
        else:
            self.late_attempts += 1

    def request(self, start: float, latency: float, ok: bool) -> None:
        """Record one logical request that started at ``start`` and took ``latency``."""
        index = int(start)
        if index < self.seconds:
            self.started[index] += 1
            self.latencies[index].append(latency)
            if ok:
                self.succeeded[index] += 1

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


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One simulated second of one strategy (counts are means per run).

    ``success_rate`` is None for a second in which no request started.
    """

    t: int
    requests: float
    successes: float
    success_rate: float | None
    attempts: float
    in_flight: float
    queue_length: float
    utilisation: float
    latency_p50: float | None
    latency_p99: float | None
    breaker: str | None


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """The figures for one strategy in one scenario (pooled over runs).

    ``recovery_seconds`` is the time after the incident ends until the
    success rate is back within 5 points of its pre-incident level (and
    stays there for 5 s), or None if it did not recover before the run
    ended. Latencies are of logical requests, failures included: what the
    caller waited.
    """

    name: str
    runs: int
    logical_requests: int
    successes: int
    success_rate: float
    attempts: int
    amplification: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    recovery_seconds: float | None
    timeline: tuple[TimelinePoint, ...]


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


def summarise(name: str, rec: Recorder, incident: tuple[float, float] | None) -> StrategyResult:
    """Turn a filled `Recorder` into a `StrategyResult`."""
    runs = max(rec.runs, 1)
    every = sorted(x for bucket in rec.latencies for x in bucket)
    requests = sum(rec.started)
    successes = sum(rec.succeeded)
    attempts = sum(rec.attempts) + rec.late_attempts
    timeline = []
    for t in range(rec.seconds):
        lat = sorted(rec.latencies[t])
        started = rec.started[t]
        timeline.append(
            TimelinePoint(
                t=t,
                requests=started / runs,
                successes=rec.succeeded[t] / runs,
                success_rate=rec.succeeded[t] / started if started else None,
                attempts=rec.attempts[t] / runs,
                in_flight=rec.in_flight[t] / runs,
                queue_length=rec.queue[t] / runs,
                utilisation=rec.busy_seconds[t] / rec.servers[t] if rec.servers[t] else 0.0,
                latency_p50=percentile(lat, 0.5),
                latency_p99=percentile(lat, 0.99),
                breaker=rec.breaker[t],
            )
        )
    return StrategyResult(
        name=name,
        runs=runs,
        logical_requests=requests,
        successes=successes,
        success_rate=successes / requests if requests else 0.0,
        attempts=attempts,
        amplification=attempts / requests if requests else 0.0,
        latency_p50=percentile(every, 0.5),
        latency_p95=percentile(every, 0.95),
        latency_p99=percentile(every, 0.99),
        recovery_seconds=recovery_seconds(rec.started, rec.succeeded, incident),
        timeline=tuple(timeline),
    )

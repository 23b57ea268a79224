"""brace's metrics, read from `brace.status()` at collection time: one table, two exporters.

The Prometheus collector and the OpenTelemetry instruments both read the
samples this module derives from the status snapshot, so the two always
agree, and nothing is counted or pushed while calls run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from brace._breaker_state import State
from brace._status import status

__all__ = ["METRICS", "Metric", "Series", "samples"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its Prometheus and OpenTelemetry names, kind, unit, labels, help text.

    ``merge`` says how series of policies sharing a name combine (``"sum"`` or ``"max"``).
    """

    prometheus: str
    otel: str
    kind: Literal["counter", "gauge"]
    unit: str
    labels: tuple[str, ...]
    help: str
    merge: Literal["sum", "max"] = "sum"


BREAKER_STATE = Metric(
    "brace_breaker_state",
    "brace.breaker.state",
    "gauge",
    "1",
    ("name", "state"),
    "Circuit breaker state: one series per state, 1 for the current one.",
    "max",
)
FAILURE_RATE = Metric(
    "brace_breaker_failure_rate",
    "brace.breaker.failure_rate",
    "gauge",
    "1",
    ("name",),
    "Share of failures among the calls in the circuit breaker's window.",
    "max",
)
SLOW_RATE = Metric(
    "brace_breaker_slow_rate",
    "brace.breaker.slow_rate",
    "gauge",
    "1",
    ("name",),
    "Share of slow calls among the calls in the circuit breaker's window.",
    "max",
)
CALLS = Metric(
    "brace_calls_total",
    "brace.calls",
    "counter",
    "{call}",
    ("policy", "name", "outcome"),
    "Calls that ended through a circuit breaker, by outcome (success, failure).",
)
SLOW_CALLS = Metric(
    "brace_slow_calls_total",
    "brace.slow_calls",
    "counter",
    "{call}",
    ("policy", "name"),
    "Calls slower than the circuit breaker's slow_call_duration.",
)
REJECTIONS = Metric(
    "brace_rejections_total",
    "brace.rejections",
    "counter",
    "{call}",
    ("policy", "name"),
    "Calls a policy refused (open breaker, full bulkhead, rate limit, throttle, max_abandoned).",
)
RETRIES = Metric(
    "brace_retries_total",
    "brace.retries",
    "counter",
    "{retry}",
    ("policy", "name"),
    "Attempts a retry policy made after the first.",
)
GIVE_UPS = Metric(
    "brace_give_ups_total",
    "brace.give_ups",
    "counter",
    "{call}",
    ("policy", "name"),
    "Calls a retry policy gave up on.",
)
IN_FLIGHT = Metric(
    "brace_bulkhead_in_flight",
    "brace.bulkhead.in_flight",
    "gauge",
    "{call}",
    ("name",),
    "Calls running inside a bulkhead now.",
)
QUEUED = Metric(
    "brace_bulkhead_queued",
    "brace.bulkhead.queued",
    "gauge",
    "{call}",
    ("name",),
    "Calls waiting for a bulkhead slot now.",
)
LIMITED = Metric(
    "brace_rate_limiter_rejections_total",
    "brace.rate_limiter.rejections",
    "counter",
    "{call}",
    ("name",),
    "Calls a rate limiter refused.",
)
TIMEOUTS = Metric(
    "brace_timeouts_total",
    "brace.timeouts",
    "counter",
    "{call}",
    ("name",),
    "Calls a Timeout cut off.",
)

METRICS: tuple[Metric, ...] = (
    BREAKER_STATE,
    FAILURE_RATE,
    SLOW_RATE,
    CALLS,
    SLOW_CALLS,
    REJECTIONS,
    RETRIES,
    GIVE_UPS,
    IN_FLIGHT,
    QUEUED,
    LIMITED,
    TIMEOUTS,
)

#: Series of one metric: label values (in the metric's label order) -> value.
Series = dict[tuple[str, ...], float]


def _entry_samples(entry: Mapping[str, Any]) -> list[tuple[Metric, tuple[str, ...], float]]:
    kind, name, m = entry["policy"], entry["name"], entry["metrics"]
    out: list[tuple[Metric, tuple[str, ...], float]] = []
    if "state" in entry:
        out += [(BREAKER_STATE, (name, s.name), float(s.name == entry["state"])) for s in State]
        out += [(FAILURE_RATE, (name,), m["failure_rate"]), (SLOW_RATE, (name,), m["slow_rate"])]
        failures = m["failures_total"]
        out += [
            (CALLS, (kind, name, "success"), m["calls_total"] - failures),
            (CALLS, (kind, name, "failure"), failures),
            (SLOW_CALLS, (kind, name), m["slow_total"]),
        ]
    if "rejections_total" in m:
        out.append((REJECTIONS, (kind, name), m["rejections_total"]))
    if "retries_total" in m:
        out += [
            (RETRIES, (kind, name), m["retries_total"]),
            (GIVE_UPS, (kind, name), m["gave_up_total"]),
        ]
    if kind == "Bulkhead":
        out += [(IN_FLIGHT, (name,), m["in_flight"]), (QUEUED, (name,), m["queued"])]
    elif kind == "RateLimiter":
        out.append((LIMITED, (name,), m["rejected"]))
    elif kind == "Timeout":
        out.append((TIMEOUTS, (name,), m["timed_out"]))
    return out


def samples(snapshot: Mapping[str, Any] | None = None) -> dict[Metric, Series]:
    """Every metric's series, from ``snapshot`` (default: `brace.status()` now).

    Policies sharing a name and kind are one series: counters add up,
    states and rates take the highest.
    """
    data = status() if snapshot is None else snapshot
    out: dict[Metric, Series] = {metric: {} for metric in METRICS}
    for entry in data["policies"]:
        for metric, labels, value in _entry_samples(entry):
            series = out[metric]
            old = series.get(labels)
            if old is None:
                series[labels] = float(value)
            else:
                series[labels] = max(old, value) if metric.merge == "max" else old + value
    return out

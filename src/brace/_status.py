"""`brace.status()`: every named policy as plain, JSON-serialisable data.

The status page, the Prometheus collector and the OpenTelemetry instruments
all read this one snapshot, taken when they ask (pull, never push): nothing
here runs on a call's path.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from brace._breaker import CircuitBreaker
from brace._bulkhead import Bulkhead
from brace._policy import Policy
from brace._rate_limit import RateLimiter
from brace._retry import Retry
from brace._telemetry import Telemetry, policies
from brace._throttle import Throttle
from brace._timeout import Timeout

__all__ = ["entry", "plain", "status"]

#: Policies that reject calls: their entries carry ``rejections_total``.
_REJECTING = (Bulkhead, RateLimiter, Throttle, Timeout)


def plain(value: object) -> Any:
    """``value`` as JSON data: enums by name, non-finite floats as None, other objects by repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return repr(value)


def _metrics(policy: Policy, telemetry: Telemetry) -> dict[str, Any]:
    read = getattr(policy, "metrics", None)
    snapshot = read() if callable(read) else None
    out: dict[str, Any] = (
        {f.name: plain(getattr(snapshot, f.name)) for f in dataclasses.fields(snapshot)}
        if dataclasses.is_dataclass(snapshot)
        else {}
    )
    if isinstance(policy, Retry):
        out["retries_total"] = telemetry.retries.value
        out["gave_up_total"] = telemetry.gave_up.value
    elif isinstance(policy, _REJECTING):
        out["rejections_total"] = telemetry.rejections
    if isinstance(policy, Throttle):
        out["reject_probability"] = policy.reject_probability()
    return out


def entry(policy: Policy) -> dict[str, Any]:
    """One policy's status: ``{"policy", "name", ["state"], "metrics", "config", ...}``.

    A circuit breaker's entry adds ``"state"`` and ``"transitions"``, its
    last state changes, newest first: ``{"at"`` (wall clock, seconds since
    the epoch), ``"age"`` (seconds ago), ``"old"``, ``"new"``, ``"reason"}``.
    """
    telemetry = policy._listeners
    out: dict[str, Any] = {"policy": type(policy).__name__, "name": policy.name}
    metrics = _metrics(policy, telemetry)
    if isinstance(policy, CircuitBreaker):
        out["state"] = metrics["state"]
    out["metrics"] = metrics
    out["config"] = plain(policy._config())
    if isinstance(policy, CircuitBreaker):
        now = policy._clock.monotonic()
        out["transitions"] = [
            {
                "at": plain(t.at),
                "age": plain(max(now - t.mono, 0.0)),
                "old": t.old,
                "new": t.new,
                "reason": t.reason,
            }
            for t in reversed(telemetry.transitions)
        ]
    return out


def status() -> dict[str, list[dict[str, Any]]]:
    """A snapshot of every live named policy, as plain data (`json.dumps` takes it as is).

    ``{"policies": [{"policy": type name, "name": ..., "state": (circuit
    breakers), "metrics": {...}, "config": {...}, "transitions": [...]
    (circuit breakers)}]}``, oldest policy first. ``metrics`` holds the
    policy's ``metrics()`` snapshot, whose ``*_total`` fields are monotonic
    since construction, plus ``rejections_total`` for bulkheads, rate
    limiters, throttles and timeouts, and ``retries_total`` / ``gave_up_total``
    for retries. Give a policy a name to see it here.
    """
    return {"policies": [entry(policy) for policy in policies()]}

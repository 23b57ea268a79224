"""brace: make calls to unreliable dependencies safe.

Circuit breakers, retries with backoff and jitter, bulkheads, timeouts and
deadlines, fallbacks, composable into one pipeline, for sync code and asyncio.
See https://github.com/brace-py/brace and the guides in ``docs/``.
"""

from brace._clock import Clock, SystemClock
from brace._deadline import Deadline, deadline, remaining
from brace._errors import (
    BraceError,
    BulkheadFullError,
    CircuitOpenError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    TimeoutExceededError,
)
from brace._events import (
    BudgetExhausted,
    BulkheadFull,
    CallRejected,
    Event,
    FallbackUsed,
    GaveUp,
    Queued,
    RetryScheduled,
    StateChanged,
    Subscription,
    TimedOut,
    listen,
)
from brace._policy import Pipeline, Policy, pipeline

__all__ = [
    "BraceError",
    "BudgetExhausted",
    "BulkheadFull",
    "BulkheadFullError",
    "CallRejected",
    "CircuitOpenError",
    "Clock",
    "ConfigError",
    "Deadline",
    "Event",
    "FallbackUsed",
    "GaveUp",
    "Pipeline",
    "Policy",
    "Queued",
    "RateLimitedError",
    "RejectedError",
    "RetryScheduled",
    "StateChanged",
    "Subscription",
    "SystemClock",
    "TimedOut",
    "TimeoutExceededError",
    "deadline",
    "listen",
    "pipeline",
    "remaining",
]

# Public objects report `brace` as their module (in reprs, docs and pickles), as trio does.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("brace."):
        _obj.__module__ = "brace"
del _name, _obj

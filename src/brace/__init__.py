"""brace: make calls to unreliable dependencies safe.

Circuit breakers, retries with backoff and jitter, bulkheads, timeouts and
deadlines, fallbacks, composable into one pipeline, for sync code and asyncio.
See https://github.com/brace-py/brace and the guides in ``docs/``.
"""

from brace import _public, chaos, http
from brace._backoff import Backoff
from brace._breaker import BreakerMetrics, CircuitBreaker, Permit
from brace._breaker_state import State
from brace._budget import RetryBudget
from brace._bulkhead import Bulkhead, BulkheadMetrics
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
    StoreRecovered,
    StoreUnavailable,
    Subscription,
    TimedOut,
    listen,
)
from brace._fallback import Fallback
from brace._hedge import Hedge, HedgeStarted
from brace._last_good import LastGood
from brace._logging import configure_logging
from brace._policy import Pipeline, Policy, pipeline
from brace._rate_limit import RateLimiter, RateLimiterMetrics
from brace._retry import Retry
from brace._status import status
from brace._telemetry import policies
from brace._throttle import Throttle
from brace._timeout import Timeout, TimeoutMetrics
from brace._window import CountWindow, TimeWindow, WindowSnapshot

__all__ = [
    "Backoff",
    "BraceError",
    "BreakerMetrics",
    "BudgetExhausted",
    "Bulkhead",
    "BulkheadFull",
    "BulkheadFullError",
    "BulkheadMetrics",
    "CallRejected",
    "CircuitBreaker",
    "CircuitOpenError",
    "Clock",
    "ConfigError",
    "CountWindow",
    "Deadline",
    "Event",
    "Fallback",
    "FallbackUsed",
    "GaveUp",
    "Hedge",
    "HedgeStarted",
    "LastGood",
    "Permit",
    "Pipeline",
    "Policy",
    "Queued",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterMetrics",
    "RejectedError",
    "Retry",
    "RetryBudget",
    "RetryScheduled",
    "State",
    "StateChanged",
    "StoreRecovered",
    "StoreUnavailable",
    "Subscription",
    "SystemClock",
    "Throttle",
    "TimeWindow",
    "TimedOut",
    "Timeout",
    "TimeoutExceededError",
    "TimeoutMetrics",
    "WindowSnapshot",
    "chaos",
    "configure_logging",
    "deadline",
    "http",
    "listen",
    "pipeline",
    "policies",
    "remaining",
    "status",
]

_public.publish(globals(), "brace")

"""The public surface: brace.__all__ is pinned, and public objects report `brace` as their module."""

from __future__ import annotations

import types

import brace
import brace.testing

EXPECTED = {
    "TimeoutMetrics",
    "Timeout",
    "RateLimiterMetrics",
    "RateLimiter",
    "BulkheadMetrics",
    "Bulkhead",
    "Backoff",
    "BraceError",
    "BreakerMetrics",
    "BudgetExhausted",
    "BulkheadFull",
    "BulkheadFullError",
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
    "TimeoutExceededError",
    "WindowSnapshot",
    "chaos",
    "configure_logging",
    "policies",
    "status",
    "deadline",
    "http",
    "listen",
    "pipeline",
    "remaining",
}


def test_all_is_pinned() -> None:
    assert sorted(EXPECTED) == sorted(brace.__all__)


def test_every_public_name_exists() -> None:
    for name in brace.__all__:
        assert hasattr(brace, name), name


def test_public_objects_report_brace_as_their_module() -> None:
    for name in brace.__all__:
        obj = getattr(brace, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ == f"brace.{name}"
            continue
        assert obj.__module__ == "brace", f"{name}: {obj.__module__}"


def test_testing_names_report_brace_testing() -> None:
    for name in brace.testing.__all__:
        assert getattr(brace.testing, name).__module__ == "brace.testing", name


def test_public_names_have_docstrings() -> None:
    for name in brace.__all__:
        obj = getattr(brace, name)
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_package_ships_py_typed() -> None:
    import importlib.resources

    assert importlib.resources.files("brace").joinpath("py.typed").is_file()

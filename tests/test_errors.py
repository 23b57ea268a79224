"""The exception tree and its data attributes."""

from __future__ import annotations

import pytest

import brace


def test_tree_shape() -> None:
    assert issubclass(brace.ConfigError, brace.BraceError)
    assert issubclass(brace.ConfigError, ValueError)
    for cls in (
        brace.CircuitOpenError,
        brace.BulkheadFullError,
        brace.RateLimitedError,
        brace.TimeoutExceededError,
    ):
        assert issubclass(cls, brace.RejectedError)
        assert issubclass(cls, brace.BraceError)
    assert issubclass(brace.TimeoutExceededError, TimeoutError)
    assert not issubclass(brace.RejectedError, ValueError)


def test_rejections_carry_policy_and_retry_after() -> None:
    err = brace.CircuitOpenError("open", policy="payments", retry_after=2.5)
    assert (err.policy, err.retry_after) == ("payments", 2.5)
    assert str(err) == "open"
    limited = brace.RateLimitedError("slow down", policy="search", retry_after=0.1)
    assert limited.retry_after == 0.1
    assert brace.BulkheadFullError("full", policy="inv").retry_after is None


def test_timeout_exceeded_carries_timeout_and_source() -> None:
    err = brace.TimeoutExceededError("late", policy="t", timeout=2.0, source="deadline")
    assert (err.timeout, err.source, err.policy) == (2.0, "deadline", "t")
    with pytest.raises(TimeoutError):
        raise err


def test_docstring_draws_the_tree() -> None:
    import brace._errors

    doc = brace._errors.__doc__ or ""
    for name in (
        "BraceError",
        "ConfigError",
        "RejectedError",
        "CircuitOpenError",
        "TimeoutExceededError",
    ):
        assert name in doc


def test_errors_pickle_with_their_fields_and_notes() -> None:
    import pickle

    errors: list[brace.RejectedError] = [
        brace.CircuitOpenError("open", policy="p", retry_after=1.5),
        brace.BulkheadFullError("full", policy="b"),
        brace.RateLimitedError("slow", policy="r", retry_after=0.2),
        brace.TimeoutExceededError("late", policy="t", timeout=2.0, source="deadline"),
    ]
    for error in errors:
        error.add_note("context")
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
        assert type(error) is type(copy)
        assert (str(error), error.policy, error.retry_after) == (
            str(copy),
            copy.policy,
            copy.retry_after,
        )
        assert copy.__notes__ == ["context"]
    late = pickle.loads(pickle.dumps(errors[3]))  # noqa: S301 - our own bytes
    assert isinstance(late, brace.TimeoutExceededError)
    assert (late.timeout, late.source) == (2.0, "deadline")


def test_breaker_rejection_is_exactly_circuit_open_error() -> None:
    from brace.testing import VirtualClock

    breaker = brace.CircuitBreaker("p", consecutive_failures=1, clock=VirtualClock())
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    with pytest.raises(brace.CircuitOpenError) as info:
        breaker.call(lambda: 1)
    assert brace.CircuitOpenError is type(info.value)
    assert not hasattr(info.value, "__dict__") or "policy" not in info.value.__dict__

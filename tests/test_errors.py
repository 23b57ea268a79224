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

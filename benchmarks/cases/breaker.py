"""Circuit breaker rows: closed success (count and time windows), open rejection, and peers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks._harness import FLOOR, Case

HAND = "hand-written rejection (monotonic check + raise)"
CLOSED_COUNT = "brace (closed, success, count window)"
OPEN = "brace (open, rejection raised + caught)"


def f() -> int:
    return 1


async def af() -> int:
    return 1


def boom() -> int:
    raise ConnectionError


def _opened(**kwargs: Any) -> brace.CircuitBreaker:
    breaker = brace.CircuitBreaker("bench-open", consecutive_failures=1, open_for=1e9, **kwargs)
    try:
        breaker(boom)()
    except ConnectionError:
        pass
    assert breaker.state is brace.State.OPEN
    return breaker


def _catching(fn: Callable[[], object], exc: type[BaseException]) -> Callable[[], object]:
    def op() -> object:
        try:
            return fn()
        except exc:
            return None

    return op


def _acatching(
    fn: Callable[[], Awaitable[object]], exc: type[BaseException]
) -> Callable[[], Awaitable[object]]:
    async def op() -> object:
        try:
            return await fn()
        except exc:
            return None

    return op


class _HandOpen(Exception):
    pass


def _hand_written() -> Callable[[], object]:
    """What a breaker's rejection costs at the least: a monotonic read, a compare, a raise."""
    until = time.monotonic() + 1e9
    monotonic = time.monotonic

    def guarded() -> int:
        if monotonic() < until:
            raise _HandOpen
        return f()

    return _catching(guarded, _HandOpen)


def _ahand_written() -> Callable[[], Awaitable[object]]:
    until = time.monotonic() + 1e9
    monotonic = time.monotonic

    async def guarded() -> int:
        if monotonic() < until:
            raise _HandOpen
        return await af()

    return _acatching(guarded, _HandOpen)


def _peer_open_sync() -> list[Case]:
    out: list[Case] = []
    try:
        import pybreaker

        pb = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=1e9)
        try:
            pb.call(boom)
        except Exception:
            pass
        out.append(
            Case(
                "breaker",
                "pybreaker (open, rejection)",
                _catching(pb(f), pybreaker.CircuitBreakerError),
                ref=HAND,
            )
        )
    except ImportError:
        pass
    try:
        import circuitbreaker

        cb = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=10**9)
        wrapped = cb(boom)
        try:
            wrapped()
        except ConnectionError:
            pass
        out.append(
            Case(
                "breaker",
                "circuitbreaker (open, rejection)",
                _catching(cb(f), circuitbreaker.CircuitBreakerError),
                ref=HAND,
            )
        )
    except ImportError:
        pass
    return out


def cases() -> list[Case]:
    count = brace.CircuitBreaker("bench-count")
    timed = brace.CircuitBreaker("bench-time", window=brace.TimeWindow(60))
    slow = brace.CircuitBreaker("bench-slow", slow_call_duration=1.0)
    consecutive = brace.CircuitBreaker("bench-consecutive", consecutive_failures=5)
    opened = _opened()
    return [
        Case("breaker", CLOSED_COUNT, count(f), ref=FLOOR),
        Case("breaker", "brace (closed, success, time window)", timed(f), ref=CLOSED_COUNT),
        Case("breaker", "brace (closed, success, slow-call timing)", slow(f), ref=CLOSED_COUNT),
        Case("breaker", "brace (closed, success, consecutive)", consecutive(f), ref=CLOSED_COUNT),
        Case(
            "breaker",
            "brace (closed, success) vs pybreaker",
            count(f),
            ref="pybreaker (closed, success)",
        ),
        Case(
            "breaker",
            "brace (closed, success) vs circuitbreaker",
            count(f),
            ref="circuitbreaker (closed, success)",
        ),
        Case("breaker", HAND, _hand_written()),
        Case("breaker", OPEN, _catching(opened(f), brace.CircuitOpenError), ref=HAND),
        *_peer_open_sync(),
        Case("breaker", CLOSED_COUNT, count(af), "async", ref=FLOOR),
        Case(
            "breaker", "brace (closed, success, time window)", timed(af), "async", ref=CLOSED_COUNT
        ),
        Case(
            "breaker",
            "brace (closed) vs aiobreaker",
            count(af),
            "async",
            ref="aiobreaker (closed, success)",
        ),
        Case(
            "breaker",
            "brace (closed) vs purgatory",
            count(af),
            "async",
            ref="purgatory (closed, success)",
        ),
        Case(
            "breaker",
            "brace (closed) vs circuitbreaker",
            count(af),
            "async",
            ref="circuitbreaker (closed, success)",
        ),
        Case("breaker", HAND, _ahand_written(), "async"),
        Case("breaker", OPEN, _acatching(opened(af), brace.CircuitOpenError), "async", ref=HAND),
    ]

"""Retry rows: first-attempt success vs the trivial decorator; fail twice then succeed vs a
hand-written loop and vs tenacity, stamina and backoff configured alike (3 attempts, zero wait)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks._harness import FLOOR, Case
from benchmarks.cases.core import af, f
from brace._clock import _NO_WAIT

HAND = "hand-written retry loop (fail 2, ok)"
FAIL2 = "(fail 2, ok)"


def _fail_twice() -> Callable[[], int]:
    count = [0]

    def fn() -> int:
        count[0] += 1
        if count[0] % 3:
            raise ConnectionError
        return 1

    return fn


def _afail_twice() -> Callable[[], Awaitable[int]]:
    count = [0]

    async def fn() -> int:
        count[0] += 1
        if count[0] % 3:
            raise ConnectionError
        return 1

    return fn


def _hand(fn: Callable[[], int]) -> Callable[[], int]:
    def loop() -> int:
        for attempt in range(3):
            try:
                return fn()
            except ConnectionError:
                if attempt == 2:
                    raise
        raise AssertionError

    return loop


def _ahand(fn: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
    async def loop() -> int:
        for attempt in range(3):
            try:
                return await fn()
            except ConnectionError:
                if attempt == 2:
                    raise
        raise AssertionError

    return loop


def _no_wait(fn: Callable[[], Any]) -> Callable[[], Any]:
    # brace.testing.no_wait() without the contextmanager machinery, so the row measures Retry.
    def op() -> Any:
        token = _NO_WAIT.set(True)
        try:
            return fn()
        finally:
            _NO_WAIT.reset(token)

    return op


def _ano_wait(fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    async def op() -> Any:
        token = _NO_WAIT.set(True)
        try:
            return await fn()
        finally:
            _NO_WAIT.reset(token)

    return op


def _peers(mode: str) -> list[Case]:
    make = _fail_twice if mode == "sync" else _afail_twice
    out: list[Case] = []
    try:
        import tenacity

        retry = tenacity.retry(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_none(),
            retry=tenacity.retry_if_exception_type(ConnectionError),
            reraise=True,
        )
        out.append(Case("retry", f"tenacity {FAIL2}", retry(make()), mode))
    except ImportError:
        pass
    try:
        import stamina
        import stamina.instrumentation

        # Its default logging hook would print a line per retry; measure the retrying itself.
        stamina.instrumentation.set_on_retry_hooks([])
        retry = stamina.retry(
            on=ConnectionError, attempts=3, wait_initial=0, wait_max=0, wait_jitter=0
        )
        out.append(Case("retry", f"stamina {FAIL2}", retry(make()), mode))
    except ImportError:
        pass
    try:
        import backoff

        retry = backoff.on_exception(
            backoff.constant, ConnectionError, max_tries=3, interval=0, jitter=None
        )
        out.append(Case("retry", f"backoff {FAIL2}", retry(make()), mode))
    except ImportError:
        pass
    return out


def cases() -> list[Case]:
    plain = brace.Retry(on=ConnectionError)
    zero = brace.Retry(attempts=3, on=ConnectionError, backoff=brace.Backoff.constant(0))
    jittered = brace.Retry(attempts=3, on=ConnectionError, rng=random.Random(1))
    budgeted = brace.Retry(
        attempts=3,
        on=ConnectionError,
        backoff=brace.Backoff.constant(0),
        budget=brace.RetryBudget(ratio=1.0),
    )
    throttle = brace.Throttle(rng=random.Random(1))
    rows = [
        Case("retry", "Retry, success", plain(f), ref=FLOOR),
        Case("retry", "Retry + RetryBudget, success", budgeted(f), ref=FLOOR),
        Case("retry", "Throttle, success", throttle(f), ref=FLOOR),
        Case("retry", HAND, _hand(_fail_twice())),
        Case("retry", f"Retry {FAIL2}, Backoff.constant(0)", zero(_fail_twice()), ref=HAND),
        Case(
            "retry",
            f"Retry {FAIL2}, default backoff, no_wait",
            _no_wait(jittered(_fail_twice())),
            ref=HAND,
        ),
        Case("retry", f"Retry + RetryBudget {FAIL2}", budgeted(_fail_twice()), ref=HAND),
        *_peers("sync"),
        Case("retry", "Retry, success", plain(af), "async", ref=FLOOR),
        Case("retry", HAND, _ahand(_afail_twice()), "async"),
        Case(
            "retry", f"Retry {FAIL2}, Backoff.constant(0)", zero(_afail_twice()), "async", ref=HAND
        ),
        Case(
            "retry",
            f"Retry {FAIL2}, default backoff, no_wait",
            _ano_wait(jittered(_afail_twice())),
            "async",
            ref=HAND,
        ),
        *_peers("async"),
    ]
    for row in rows:
        if row.label.startswith(("tenacity", "stamina", "backoff")):
            row.ref = f"Retry {FAIL2}, Backoff.constant(0)"
    return rows

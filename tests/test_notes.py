"""brace's notes on a reused exception instance are replaced, never piled up.

Code that raises one prebuilt exception again and again (a module-level
``UNAVAILABLE = ServiceError(...)``) would otherwise carry one note per failed
call: 10k calls left 20,000 notes (2.4 MB) on one instance. Each policy keeps
one note per exception instance, and it tells about the latest call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import brace
from brace.testing import VirtualClock, no_wait

CALLS = 1000


class ServiceError(Exception):
    """The reused exception's type."""


def reused() -> ServiceError:
    """A fresh 'prebuilt' instance for one test."""
    return ServiceError("service unavailable")


def fail_many(call: Callable[[int], object], exc: BaseException) -> list[int]:
    """Fail ``CALLS`` times through ``call(i)``; the number of notes on ``exc`` after each."""
    counts = []
    with no_wait():
        for i in range(CALLS):
            with pytest.raises(type(exc)) as info:
                call(i)
            assert info.value is exc
            counts.append(len(exc.__notes__))
    return counts


def test_retry_giving_up_keeps_one_note_telling_the_latest_call() -> None:
    exc, clock = reused(), VirtualClock()
    retry = brace.Retry("fetch", attempts=2, backoff=brace.Backoff.constant(0), clock=clock)
    attempts = 0

    def fetch(i: int) -> None:
        nonlocal attempts
        attempts += 1
        if attempts % 2 == 0:
            clock.advance(i / 100)  # each call's retry takes longer: its note says so
        raise exc

    counts = fail_many(lambda i: retry.call(fetch, i), exc)
    assert {counts[0]} == set(counts)
    took = (CALLS - 1) / 100
    note = f"brace.Retry 'fetch' gave up after 2 attempts in {took:.2f} s: no attempts left"
    assert exc.__notes__ == [f"{note} (attempts=2)"]


def test_a_fallback_whose_alternatives_all_fail_keeps_one_note_per_alternative() -> None:
    exc = reused()

    def first(i: int) -> None:
        raise ValueError(i)

    def second(i: int) -> None:
        raise KeyError(i)

    fallback = brace.Fallback([first, second], name="recs")

    def fetch(i: int) -> None:
        raise exc

    counts = fail_many(lambda i: fallback.call(fetch, i), exc)
    assert {counts[0]} == set(counts)
    last = CALLS - 1
    assert len(exc.__notes__) == 2
    assert f"raised ValueError({last})" in exc.__notes__[0]
    assert f"raised KeyError({last})" in exc.__notes__[1]


def test_a_last_good_miss_keeps_one_note() -> None:
    exc = reused()
    last_good = brace.LastGood(60.0, name="profile")

    def fetch(i: int) -> None:
        raise exc

    counts = fail_many(lambda i: last_good.call(fetch, i), exc)
    assert {counts[0]} == set(counts)
    assert exc.__notes__ == ["LastGood 'profile' had no value younger than max_age=60 s"]


def test_a_hedge_whose_attempts_all_fail_keeps_one_note() -> None:
    exc = reused()
    hedge = brace.Hedge(0.01, max_extra=2, name="search")

    async def fetch(i: int) -> None:
        raise exc

    async def main() -> list[int]:
        counts = []
        for i in range(CALLS):
            with pytest.raises(ServiceError) as info:
                await hedge.acall(fetch, i)
            assert info.value is exc
            counts.append(len(exc.__notes__))
        return counts

    counts = asyncio.run(main())
    assert {counts[0]} == set(counts)
    assert exc.__notes__ == ["hedge 'search': all 3 attempts failed; this is the last"]


def test_a_pipeline_keeps_one_note_per_policy_on_a_reused_exception() -> None:
    exc = reused()
    policy = brace.pipeline(
        brace.Fallback([brace.LastGood(60.0, name="cache")], name="degrade"),
        brace.Retry("outer", attempts=2, backoff=brace.Backoff.constant(0)),
        brace.Retry("inner", attempts=2, backoff=brace.Backoff.constant(0)),
    )

    def fetch(i: int) -> None:
        raise exc

    counts = fail_many(lambda i: policy.call(fetch, i), exc)
    assert {counts[0]} == set(counts)
    assert len(exc.__notes__) == 3  # each Retry, and the Fallback's miss in the cache
    assert sum(note.startswith("brace.Retry 'inner' gave up") for note in exc.__notes__) == 1
    assert sum(note.startswith("brace.Retry 'outer' gave up") for note in exc.__notes__) == 1


def test_notes_the_user_added_are_kept() -> None:
    exc = reused()
    exc.add_note("request id 42")
    retry = brace.Retry(attempts=2, backoff=brace.Backoff.constant(0))

    def fetch(i: int) -> None:
        raise exc

    fail_many(lambda i: retry.call(fetch, i), exc)
    assert exc.__notes__[0] == "request id 42"
    assert len(exc.__notes__) == 2

"""Sliding windows: running sums match a naive recount, eviction by count and by time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace._window import FAILED, SLOW, CountRing, Tally, TimeRing, WindowSnapshot, window_spec


def test_count_window_evicts_the_oldest_outcome_once_full() -> None:
    ring = brace.CountWindow(3).create()
    for outcome in (FAILED, FAILED | SLOW, 0):
        ring.record(outcome, 0.0)
    assert WindowSnapshot(3, 2, 1) == ring.snapshot(0.0)
    ring.record(0, 0.0)  # evicts the first failure
    assert WindowSnapshot(3, 1, 1) == ring.snapshot(0.0)
    ring.record(0, 0.0)  # evicts the slow failure
    assert WindowSnapshot(3, 0, 0) == ring.snapshot(0.0)


def test_count_window_clear_forgets_everything() -> None:
    ring = CountRing(2)
    ring.record(FAILED, 0.0)
    ring.clear()
    assert WindowSnapshot(0, 0, 0) == ring.snapshot(0.0)
    ring.record(0, 0.0)
    ring.record(0, 0.0)
    ring.record(0, 0.0)
    assert WindowSnapshot(2, 0, 0) == ring.snapshot(0.0)


def test_snapshot_rates_are_zero_for_an_empty_window() -> None:
    snap = WindowSnapshot(0, 0, 0)
    assert (snap.failure_rate, snap.slow_rate) == (0.0, 0.0)
    assert (WindowSnapshot(4, 1, 2).failure_rate, WindowSnapshot(4, 1, 2).slow_rate) == (0.25, 0.5)


def test_time_window_drops_buckets_older_than_the_window() -> None:
    ring = brace.TimeWindow(10, buckets=10).create()
    ring.record(FAILED, 0.5)
    ring.record(0, 5.5)
    assert WindowSnapshot(2, 1, 0) == ring.snapshot(9.9)
    assert WindowSnapshot(1, 0, 0) == ring.snapshot(10.0)  # bucket [0, 1) has left
    assert WindowSnapshot(0, 0, 0) == ring.snapshot(15.0)


def test_time_window_survives_a_jump_longer_than_the_window() -> None:
    ring = TimeRing(1.0, 4)
    ring.record(FAILED | SLOW, 0.0)
    ring.record(0, 1000.0)
    assert WindowSnapshot(1, 0, 0) == ring.snapshot(1000.0)


def test_time_window_accepts_a_timedelta() -> None:
    assert brace.TimeWindow(timedelta(minutes=1.5)).seconds == 90.0


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: brace.CountWindow(0), "size=0"),
        (lambda: brace.CountWindow(-1), "size=-1"),
        (lambda: brace.TimeWindow(0), "seconds=0"),
        (lambda: brace.TimeWindow(-1.0), "seconds=-1.0"),
        (lambda: brace.TimeWindow(5, buckets=0), "buckets=0"),
    ],
)
def test_bad_window_sizes_raise_config_error(build: object, param: str) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        build()  # type: ignore[operator]


def test_window_spec_rejects_other_objects() -> None:
    with pytest.raises(brace.ConfigError, match="window=100"):
        window_spec("window", 100)


outcomes = st.lists(st.sampled_from([0, FAILED, SLOW, FAILED | SLOW]), max_size=60)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 8), recorded=outcomes)
def test_count_window_sums_match_a_recount(size: int, recorded: list[int]) -> None:
    ring = CountRing(size)
    for outcome in recorded:
        ring.record(outcome, 0.0)
    last = recorded[-size:] if recorded else []
    expected = WindowSnapshot(
        len(last), sum(1 for o in last if o & FAILED), sum(1 for o in last if o & SLOW)
    )
    assert expected == ring.snapshot(0.0)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([0, FAILED, SLOW, FAILED | SLOW]), st.integers(0, 7)),
        max_size=40,
    )
)
def test_time_window_sums_match_a_recount(steps: list[tuple[int, int]]) -> None:
    # 4 buckets of 1 s: an outcome at t counts at `now` while floor(t) > floor(now) - 4.
    ring = TimeRing(4.0, 4)
    now = 0.0
    seen: list[tuple[float, int]] = []
    for outcome, gap in steps:
        now += gap * 0.5
        ring.record(outcome, now)
        seen.append((now, outcome))
        live = [o for t, o in seen if int(t) > int(now) - 4]
        expected = WindowSnapshot(
            len(live), sum(1 for o in live if o & FAILED), sum(1 for o in live if o & SLOW)
        )
        assert expected == ring.snapshot(now)


@pytest.mark.parametrize("make", [lambda: CountRing(4), lambda: TimeRing(10.0, 10)])
def test_a_tally_sees_every_outcome_once_including_lock_free_successes(
    make: Callable[[], CountRing | TimeRing],
) -> None:
    ring = make()
    ring.tally = tally = Tally()
    ring.record(0, 0.0)
    for _ in range(3):
        assert ring.try_success(0.0)  # clean window: counted lock-free, folded in later
    ring.record(FAILED, 0.0)
    ring.record(FAILED | SLOW, 0.0)
    assert tally.drain() == [6, 2, 1, 1, 2]  # calls, failures, slow, had a success, streak
    assert not ring.try_success(0.0)  # failures in the window: recorded under the lock
    ring.record(0, 0.0)
    ring.record(FAILED, 0.0)
    assert tally.drain() == [2, 1, 0, 1, 1]
    assert tally.drain() == [0, 0, 0, 0, 0]

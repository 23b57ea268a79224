"""LastGood: serving remembered results within max_age, keys, LRU eviction, bad input."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import brace
from brace._last_good import _Cache
from brace.testing import EventRecorder, VirtualClock
from tests.conftest import Driver


class Flaky:
    """A dependency that answers ``value-<arg>`` while up and raises while down."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def __call__(self, arg: object = None, *rest: object, **kwargs: Any) -> str:
        self.calls += 1
        if not self.up:
            raise ConnectionError("down")
        return f"value-{arg}"


def test_the_last_good_result_is_served_when_the_call_fails(
    driver: Driver, clock: VirtualClock
) -> None:
    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, clock=clock), flaky)
    assert call(1) == "value-1"
    flaky.up = False
    clock.advance(10)  # exactly max_age old: still served
    assert call(1) == "value-1"


def test_a_value_older_than_max_age_is_not_served_and_the_failure_gets_a_note(
    driver: Driver, clock: VirtualClock
) -> None:
    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, clock=clock, name="recs"), flaky)
    call(1)
    flaky.up = False
    clock.advance(10.5)
    with pytest.raises(ConnectionError) as info:
        call(1)
    assert info.value.__notes__ == ["LastGood 'recs' had no value younger than max_age=10 s"]


def test_a_fresh_success_restarts_the_age(driver: Driver, clock: VirtualClock) -> None:
    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, clock=clock), flaky)
    call(1)
    clock.advance(8)
    call(1)
    flaky.up = False
    clock.advance(8)
    assert call(1) == "value-1"


def test_values_are_kept_per_key(driver: Driver, clock: VirtualClock) -> None:
    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, clock=clock), flaky)
    call(1)
    flaky.up = False
    with pytest.raises(ConnectionError):
        call(2)


def test_positional_and_keyword_arguments_make_different_default_keys(
    driver: Driver, clock: VirtualClock
) -> None:
    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, clock=clock), flaky)
    call(1, page=("a", 2))
    flaky.up = False
    assert call(1, page=("a", 2)) == "value-1"
    with pytest.raises(ConnectionError):
        call(1, ("page", ("a", 2)))


def test_a_key_function_picks_what_identifies_a_call(driver: Driver, clock: VirtualClock) -> None:
    flaky = Flaky()
    cache = brace.LastGood(10, key=lambda user, **_: user, clock=clock)
    call = driver.decorate(cache, flaky)
    call(1, trace_id="a")
    flaky.up = False
    assert call(1, trace_id="b") == "value-1"


def test_the_least_recently_used_key_is_evicted_beyond_max_entries(
    driver: Driver, clock: VirtualClock
) -> None:
    flaky = Flaky()
    cache = brace.LastGood(100, max_entries=2, clock=clock)
    call = driver.decorate(cache, flaky)
    call("a")
    call("b")
    flaky.up = False
    assert call("a") == "value-a"  # a is now the most recently used
    flaky.up = True
    call("c")  # evicts b
    flaky.up = False
    assert len(cache) == 2
    assert call("a") == "value-a"
    assert call("c") == "value-c"
    with pytest.raises(ConnectionError):
        call("b")


def test_an_expired_value_is_dropped_when_looked_up(clock: VirtualClock) -> None:
    flaky = Flaky()
    cache = brace.LastGood(1, clock=clock)
    call = cache(flaky)
    call(1)
    clock.advance(2)
    flaky.up = False
    with pytest.raises(ConnectionError):
        call(1)
    assert len(cache) == 0


def test_unhashable_arguments_are_neither_remembered_nor_a_failure(driver: Driver) -> None:
    flaky = Flaky()
    cache = brace.LastGood(10, clock=VirtualClock())
    call = driver.decorate(cache, flaky)
    assert call([1]) == "value-[1]"
    assert len(cache) == 0
    flaky.up = False
    with pytest.raises(ConnectionError):
        call([1])


def test_a_key_function_that_raises_never_breaks_the_call(driver: Driver) -> None:
    def key(*args: object, **kwargs: object) -> Hashable:
        raise RuntimeError("key bug")

    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, key=key, clock=VirtualClock()), flaky)
    assert call(1) == "value-1"
    flaky.up = False
    with pytest.raises(ConnectionError):
        call(1)


def test_serving_emits_fallback_used_at_level_one(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    flaky = Flaky()
    call = driver.decorate(brace.LastGood(10, clock=clock, name="c"), flaky)
    call(1)
    flaky.up = False
    call(1)
    assert [brace.FallbackUsed("c", 1, "ConnectionError")] == recorder.of(brace.FallbackUsed)


def test_an_expired_deadline_inside_serves_the_cached_value(
    driver: Driver, clock: VirtualClock
) -> None:
    state = {"late": False}

    def call_inside(arg: int) -> str:
        if state["late"]:
            brace._deadline.check_deadline("inner")
        return "ok"

    call = driver.decorate(brace.LastGood(10, clock=clock), call_inside)
    call(1)
    state["late"] = True
    with brace.deadline(1, clock=clock):
        clock.advance(2)
        assert call(1) == "ok"


def test_clear_forgets_everything(clock: VirtualClock) -> None:
    cache = brace.LastGood(10, clock=clock)
    cache(Flaky())(1)
    cache.clear()
    assert len(cache) == 0


def test_an_infinite_max_age_never_expires(clock: VirtualClock) -> None:
    flaky = Flaky()
    call = brace.LastGood(math.inf, clock=clock)(flaky)
    call(1)
    clock.advance(1e9)
    flaky.up = False
    assert call(1) == "value-1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_age": 0}, "max_age=0 is out of range"),
        ({"max_age": -1}, "max_age=-1 is out of range"),
        ({"max_age": math.nan}, "max_age=nan is not allowed"),
        ({"max_age": "1"}, "max_age='1' is not a duration"),
        ({"max_age": 1, "max_entries": 0}, "max_entries=0 is out of range"),
        ({"max_age": 1, "key": "user"}, "key='user' is not callable"),
    ],
)
def test_bad_configuration_raises_config_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(brace.ConfigError, match=message):
        brace.LastGood(**kwargs)


def test_repr_shows_the_configuration() -> None:
    assert repr(brace.LastGood(5)) == "brace.LastGood('lastgood', max_age=5.0, max_entries=1024)"


class CacheVsModel(RuleBasedStateMachine):
    """The LRU cache against a list-based model: same answers, same size bound."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.cache = _Cache(max_age=5.0, max_entries=3)
        self.model: list[tuple[int, int, float]] = []  # (key, value, stored), oldest use first

    @rule(key=st.integers(0, 5), value=st.integers())
    def put(self, key: int, value: int) -> None:
        self.cache.put(key, value, self.now)
        self.model = [e for e in self.model if e[0] != key] + [(key, value, self.now)]
        self.model = self.model[-3:]

    @rule(key=st.integers(0, 5))
    def get(self, key: int) -> None:
        entry = next((e for e in self.model if e[0] == key), None)
        expected: tuple[bool, object] = (False, None)
        if entry is not None:
            self.model.remove(entry)
            if self.now - entry[2] <= 5.0:
                expected = (True, entry[1])
                self.model.append(entry)
        assert expected == self.cache.get(key, self.now)

    @rule(seconds=st.sampled_from([0.0, 1.0, 2.5, 5.0, 6.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @invariant()
    def same_size(self) -> None:
        assert len(self.model) == len(self.cache)


TestCacheVsModel = CacheVsModel.TestCase
TestCacheVsModel.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)

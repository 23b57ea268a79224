"""Throttle: the SRE adaptive-throttling rule, its window, classification, rejections, threads."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import brace
from brace import Backoff, Retry, Throttle
from brace._throttle import ThrottleCore
from brace.testing import EventRecorder, VirtualClock
from tests.conftest import Driver


class FixedDraws(random.Random):
    """A Random whose random() always returns ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def fail() -> None:
    raise ConnectionError("refused")


def ok() -> str:
    return "ok"


def test_a_healthy_backend_is_never_throttled(driver: Driver, clock: VirtualClock) -> None:
    throttle = Throttle(rng=FixedDraws(0.0), clock=clock)
    for _ in range(200):
        assert driver.run(throttle, ok) == "ok"
    assert throttle.reject_probability() == 0.0


def test_rejection_probability_follows_the_sre_formula(clock: VirtualClock) -> None:
    throttle = Throttle(k=2.0, rng=FixedDraws(0.999), clock=clock)
    for _ in range(3):
        throttle.call(ok)
    for _ in range(7):
        with pytest.raises(ConnectionError):
            throttle.call(fail)
    # requests 10, accepts 3: (10 - 2 * 3) / (10 + 1)
    assert throttle.reject_probability() == pytest.approx(4 / 11)


def test_a_failing_backend_gets_shed_locally(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    throttle = Throttle("api", rng=FixedDraws(0.5), clock=clock)
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1
        fail()

    with pytest.raises(ConnectionError):
        driver.run(throttle, counted)  # p = 0
    with pytest.raises(ConnectionError):
        driver.run(throttle, counted)  # p = 1/2, draw 0.5 is not below it
    with pytest.raises(brace.RateLimitedError) as info:
        driver.run(throttle, counted)  # p = 2/3
    assert calls == 2
    assert (info.value.policy, info.value.retry_after) == ("api", None)
    assert recorder.events == [brace.CallRejected("api", "throttled", None)]
    # The rejected call still counts as a request: p = 3/4 now.
    assert throttle.reject_probability() == pytest.approx(3 / 4)


def test_history_older_than_the_window_is_forgotten(clock: VirtualClock) -> None:
    throttle = Throttle(window=60.0, rng=FixedDraws(0.999), clock=clock)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            throttle.call(fail)
    assert throttle.reject_probability() == pytest.approx(5 / 6)
    clock.advance(60.0)
    assert throttle.reject_probability() == 0.0


def test_exceptions_not_matching_on_count_as_accepted(driver: Driver, clock: VirtualClock) -> None:
    throttle = Throttle(on=brace.RateLimitedError, rng=FixedDraws(0.999), clock=clock)

    def bad_request() -> None:
        raise KeyError

    for _ in range(10):
        with pytest.raises(KeyError):
            driver.run(throttle, bad_request)
    assert throttle.reject_probability() == 0.0


def test_seeded_rejections_match_the_probability_statistically(clock: VirtualClock) -> None:
    core = ThrottleCore(k=2.0, window=120.0)
    for _ in range(20):
        core.answered(0.0, accepted=False)
    for _ in range(10):
        core.answered(0.0, accepted=True)
    # From here on, requests grow and p drifts; measure each draw against the p it faced.
    rng = random.Random(12)
    expected = 0.0
    rejected = 0
    for _ in range(2000):
        p = core.reject_probability(0.0)
        expected += p
        if rng.random() < p:
            rejected += 1
            core.shed(0.0)
        else:
            core.answered(0.0, accepted=False)
    assert rejected == pytest.approx(expected, rel=0.05)


def test_a_retry_outside_a_throttle_fails_fast_on_its_rejections(clock: VirtualClock) -> None:
    throttle = Throttle(rng=FixedDraws(0.7), clock=clock)
    retry = Retry(attempts=3, backoff=Backoff.constant(1.0), clock=clock)
    policy = brace.pipeline(retry, throttle)
    calls = 0

    @policy
    def fn() -> None:
        nonlocal calls
        calls += 1
        fail()

    with pytest.raises(ConnectionError):
        fn()
    assert calls == 3
    with pytest.raises(brace.RateLimitedError):
        fn()  # p = 3/4 > 0.7: shed, and the shedding is not retried
    assert calls == 3
    assert clock.sleeps == [1.0, 1.0]


def test_a_retry_that_names_rate_limited_retries_a_throttles_rejections(
    clock: VirtualClock,
) -> None:
    throttle = Throttle(rng=FixedDraws(0.7), clock=clock)
    on = (ConnectionError, brace.RateLimitedError)
    retry = Retry(attempts=3, backoff=Backoff.constant(1.0), on=on, clock=clock)
    policy = brace.pipeline(retry, throttle)
    calls = 0

    @policy
    def fn() -> None:
        nonlocal calls
        calls += 1
        fail()

    # Draws of 0.7 run every attempt while p <= 0.7: p = 0, 1/2, 2/3.
    with pytest.raises(ConnectionError):
        fn()
    assert calls == 3
    with pytest.raises(brace.RateLimitedError) as info:
        fn()  # p = 3/4 > 0.7: shed, retried after the backoff, shed again ...
    assert calls == 3
    assert "gave up after 3 attempts" in info.value.__notes__[0]
    assert clock.sleeps == [1.0, 1.0, 1.0, 1.0]


def test_threads_count_every_request() -> None:
    clock = VirtualClock()
    throttle = Throttle(rng=FixedDraws(0.999), clock=clock)
    workers = 8
    barrier = threading.Barrier(workers)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            with contextlib.suppress(ConnectionError):
                throttle.call(fail)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert throttle.reject_probability() == pytest.approx(400 / 401)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"k": 0.5}, "k"),
        ({"k": float("nan")}, "k"),
        ({"k": "2"}, "k"),
        ({"window": 0}, "window"),
        ({"window": -1}, "window"),
        ({"on": 3}, "on"),
        ({"rng": 4}, "rng"),
    ],
)
def test_bad_configuration_raises_config_error_naming_the_parameter(
    kwargs: dict[str, object], param: str
) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        Throttle(**kwargs)  # type: ignore[arg-type]


def test_repr_shows_the_configuration() -> None:
    assert repr(Throttle()) == "brace.Throttle('throttle', k=2.0, window=120.0)"


class ThrottleModel(RuleBasedStateMachine):
    """ThrottleCore against naive lists of request and accept times."""

    def __init__(self) -> None:
        super().__init__()
        self.core = ThrottleCore(k=1.5, window=10.0)
        self.now = 0.0
        self.requests: list[float] = []
        self.accepts: list[float] = []

    def _p(self) -> float:
        requests = sum(1 for t in self.requests if self.now - t < 10.0)
        accepts = sum(1 for t in self.accepts if self.now - t < 10.0)
        return max(0.0, (requests - 1.5 * accepts) / (requests + 1))

    @rule()
    def shed(self) -> None:
        self.core.shed(self.now)
        self.requests.append(self.now)

    @rule(accepted=st.booleans())
    def answered(self, accepted: bool) -> None:
        self.core.answered(self.now, accepted=accepted)
        self.requests.append(self.now)
        if accepted:
            self.accepts.append(self.now)

    @rule(step=st.sampled_from([0.0, 1.0, 2.5, 5.0, 10.0]))
    def advance(self, step: float) -> None:
        self.now += step

    @invariant()
    def probability_agrees(self) -> None:
        assert self.core.reject_probability(self.now) == pytest.approx(self._p())


TestThrottleModel = ThrottleModel.TestCase
TestThrottleModel.settings = settings(max_examples=50, stateful_step_count=40, deadline=None)


async def test_cancelled_calls_are_never_counted_as_refusals() -> None:
    throttle = Throttle(rng=random.Random(1))
    gate = asyncio.Event()

    @throttle
    async def slow() -> str:
        await gate.wait()
        return "ok"

    calls = [asyncio.ensure_future(slow()) for _ in range(100)]
    await asyncio.wait(calls, timeout=0.01)
    for call in calls:
        call.cancel()  # the client gave up; the backend refused nothing
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert throttle.reject_probability() == 0.0


async def test_a_burst_of_concurrent_calls_to_a_healthy_backend_is_not_shed() -> None:
    # Calls in flight are neither requests nor accepts until they answer.
    throttle = Throttle(rng=random.Random(1))
    gate = asyncio.Event()

    @throttle
    async def slow() -> str:
        await gate.wait()
        return "ok"

    calls = [asyncio.ensure_future(slow()) for _ in range(100)]
    await asyncio.wait(calls, timeout=0.01)
    gate.set()
    assert await asyncio.gather(*calls) == ["ok"] * 100
    assert throttle.reject_probability() == 0.0

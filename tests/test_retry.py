"""Retry: attempts, what is retried, giving up with a note, events, validation, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import runpy
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import brace
from brace import Backoff, Retry
from brace.testing import EventRecorder, VirtualClock, no_wait
from tests.conftest import Driver


class Flaky:
    """Fails with ``errors`` in order, then returns ``value``; counts calls."""

    def __init__(self, *errors: BaseException, value: object = "ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def retry(clock: VirtualClock, **kwargs: Any) -> Retry:
    kwargs.setdefault("backoff", Backoff.constant(1.0))
    return Retry(clock=clock, **kwargs)


def test_success_on_the_first_attempt_calls_once_and_never_waits(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    fn = Flaky()
    assert driver.run(retry(clock), fn) == "ok"
    assert fn.calls == 1
    assert clock.sleeps == []
    assert recorder.events == []


def test_two_failures_then_success_returns_the_result_after_two_waits(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = Flaky(ConnectionError("a"), ConnectionError("b"), value=42)
    assert driver.run(retry(clock, attempts=3), fn) == 42
    assert fn.calls == 3
    assert clock.sleeps == [1.0, 1.0]


def test_arguments_reach_every_attempt(driver: Driver, clock: VirtualClock) -> None:
    seen: list[tuple[Any, ...]] = []

    def fn(a: int, *, b: int) -> int:
        seen.append((a, b))
        if len(seen) < 2:
            raise OSError
        return a + b

    assert driver.call(retry(clock), fn, 1, b=2) == 3
    assert seen == [(1, 2), (1, 2)]


def test_giving_up_reraises_the_last_exception_itself_with_a_note(
    driver: Driver, clock: VirtualClock
) -> None:
    last = ConnectionError("third")
    fn = Flaky(ConnectionError("first"), ConnectionError("second"), last)
    with pytest.raises(ConnectionError) as info:
        driver.run(retry(clock, attempts=3, name="payments"), fn)
    assert last is info.value
    assert info.value.__notes__ == [
        "brace.Retry 'payments' gave up after 3 attempts in 2.00 s: no attempts left (attempts=3)"
    ]
    assert fn.calls == 3


def test_attempts_one_means_no_retry(driver: Driver, clock: VirtualClock) -> None:
    fn = Flaky(OSError("x"))
    with pytest.raises(OSError, match="x") as info:
        driver.run(retry(clock, attempts=1), fn)
    assert fn.calls == 1
    assert "gave up after 1 attempt in" in info.value.__notes__[0]


def test_exceptions_not_matching_on_propagate_at_once_without_a_note(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = Flaky(KeyError("k"))
    with pytest.raises(KeyError) as info:
        driver.run(retry(clock, on=(ConnectionError, TimeoutError)), fn)
    assert fn.calls == 1
    assert not hasattr(info.value, "__notes__")


def test_a_later_non_matching_exception_propagates_at_once(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = Flaky(ConnectionError(), ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        driver.run(retry(clock, on=ConnectionError, attempts=5), fn)
    assert fn.calls == 2


def test_on_accepts_a_predicate(driver: Driver, clock: VirtualClock) -> None:
    fn = Flaky(OSError(503, "busy"), OSError(404, "gone"))
    policy = retry(clock, on=lambda exc: isinstance(exc, OSError) and exc.errno == 503, attempts=5)
    with pytest.raises(OSError, match="gone"):
        driver.run(policy, fn)
    assert fn.calls == 2


def test_on_result_retries_results_and_returns_the_last_rejected_one(
    driver: Driver, clock: VirtualClock
) -> None:
    results = iter([None, None, None, None])
    policy = retry(clock, attempts=3, on_result=lambda r: r is None)
    assert driver.run(policy, lambda: next(results)) is None
    assert clock.sleeps == [1.0, 1.0]


def test_on_result_stops_at_an_accepted_result(driver: Driver, clock: VirtualClock) -> None:
    results = iter([503, 503, 200])
    assert driver.run(retry(clock, on_result=lambda r: r == 503), lambda: next(results)) == 200


def test_control_flow_is_never_retried_even_with_on_base_exception(clock: VirtualClock) -> None:
    fn = Flaky(KeyboardInterrupt(), SystemExit())
    policy = retry(clock, on=BaseException, attempts=5)
    with pytest.raises(KeyboardInterrupt):
        policy(fn)()
    with pytest.raises(SystemExit):
        policy.call(fn)
    assert fn.calls == 2


def test_cancelled_error_is_never_retried(clock: VirtualClock) -> None:
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(retry(clock, on=BaseException)(fn)())
    assert calls == 1


async def test_cancellation_during_a_backoff_sleep_stops_at_once() -> None:
    entered = asyncio.Event()
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        entered.set()
        raise ConnectionError

    # The system clock and an hour of backoff: only cancellation can end this quickly.
    policy = Retry(backoff=Backoff.constant(3600), attempts=3)
    task = asyncio.create_task(policy(fn)())
    await entered.wait()
    await asyncio.sleep(0)  # noqa: TID251 - one loop turn, so the task enters its backoff sleep
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


async def test_cancellation_during_a_backoff_sleep_stops_at_once_through_acall() -> None:
    entered = asyncio.Event()

    async def fn() -> None:
        entered.set()
        raise ConnectionError

    # A budget takes the general driver rather than the decorator's first-attempt shortcut.
    policy = Retry(backoff=Backoff.constant(3600), attempts=3, budget=brace.RetryBudget())
    task = asyncio.create_task(policy.acall(fn))
    await entered.wait()
    await asyncio.sleep(0)  # noqa: TID251 - one loop turn, so the task enters its backoff sleep
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class Tracked(Exception):
    """An exception that records a weak reference to itself, to see when it is freed."""

    def __init__(self, made: list[weakref.ref[Tracked]]) -> None:
        super().__init__()
        made.append(weakref.ref(self))


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("decorated", [True, False])
def test_every_failure_is_freed_by_refcount_alone(clock: VirtualClock, decorated: bool) -> None:
    # A frame holding the exception whose traceback holds that frame is a cycle: only the
    # garbage collector would free it, with everything the failed attempt referenced.
    made: list[weakref.ref[Tracked]] = []

    def fn() -> None:
        raise Tracked(made)

    policy = retry(clock, attempts=3)
    with gc_disabled():
        with contextlib.suppress(Tracked):
            policy(fn)() if decorated else policy.call(fn)
        assert [ref() for ref in made] == [None, None, None]


@pytest.mark.parametrize("decorated", [True, False])
async def test_every_failure_is_freed_by_refcount_alone_async(
    clock: VirtualClock, decorated: bool
) -> None:
    made: list[weakref.ref[Tracked]] = []

    async def fn() -> None:
        raise Tracked(made)

    policy = retry(clock, attempts=3)
    with gc_disabled():
        with contextlib.suppress(Tracked):
            await (policy(fn)() if decorated else policy.acall(fn))
        assert [ref() for ref in made] == [None, None, None]


def test_no_wait_skips_real_backoff_sleeps(driver: Driver) -> None:
    fn = Flaky(OSError(), OSError(), value="done")
    policy = Retry(backoff=Backoff.constant(3600), attempts=3)
    with no_wait():
        assert driver.run(policy, fn) == "done"


def test_a_finite_schedule_that_runs_out_ends_the_retrying(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = Flaky(*[OSError(str(i)) for i in range(10)])
    with pytest.raises(OSError, match="2") as info:
        driver.run(Retry(attempts=None, backoff=[0.5, 1.5], clock=clock), fn)
    assert clock.sleeps == [0.5, 1.5]
    assert "the backoff schedule ran out" in info.value.__notes__[0]


def test_seeded_rng_reproduces_the_waits(driver: Driver) -> None:
    def waits(seed: int) -> list[float]:
        clock = VirtualClock()
        fn = Flaky(*[OSError() for _ in range(4)])
        driver.run(Retry(attempts=5, rng=random.Random(seed), clock=clock), fn)
        return clock.sleeps

    assert waits(1) == waits(1)
    assert waits(1) != waits(2)


def test_the_default_schedule_is_full_jitter_exponential(driver: Driver) -> None:
    clock = VirtualClock()
    fn = Flaky(*[OSError() for _ in range(3)])
    driver.run(Retry(attempts=4, rng=random.Random(5), clock=clock), fn)
    reference = Backoff.exponential(0.1, 2.0, 10.0, "full").delays(random.Random(5))
    assert [next(reference) for _ in range(3)] == clock.sleeps


def test_events_are_retry_scheduled_then_gave_up(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    fn = Flaky(ConnectionError(), TimeoutError(), ConnectionError())
    with pytest.raises(ConnectionError):
        driver.run(retry(clock, attempts=3, name="db"), fn)
    assert [
        brace.RetryScheduled("db", 1, 1.0, "ConnectionError"),
        brace.RetryScheduled("db", 2, 1.0, "TimeoutError"),
        brace.GaveUp(
            "db",
            "attempts",
            3,
            2.0,
            "brace.Retry 'db' gave up after 3 attempts in 2.00 s: no attempts left (attempts=3)",
            "ConnectionError",
        ),
    ] == recorder.events


def test_a_rejected_result_is_scheduled_with_no_exception_type(
    driver: Driver, clock: VirtualClock, recorder: EventRecorder
) -> None:
    results = iter([False, True])
    driver.run(retry(clock, on_result=lambda ok: not ok, name="r"), lambda: next(results))
    assert [brace.RetryScheduled("r", 1, 1.0, None)] == recorder.events


def test_a_failing_listener_does_not_break_the_retry(driver: Driver, clock: VirtualClock) -> None:
    def boom(event: brace.Event) -> None:
        raise RuntimeError

    policy = retry(clock)
    fn = Flaky(OSError(), value=7)
    with policy.listen(boom), pytest.MonkeyPatch.context() as mp:
        mp.setattr("brace._events._log.exception", lambda *a, **k: None)
        assert driver.run(policy, fn) == 7


def test_unbounded_retry_outside_a_deadline_raises_config_error_before_the_first_attempt(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = Flaky()
    policy = retry(clock, attempts=None)
    with pytest.raises(brace.ConfigError, match="attempts=None"):
        driver.run(policy, fn)
    assert fn.calls == 0


def test_unbounded_retry_inside_a_deadline_runs_until_it(
    driver: Driver, clock: VirtualClock
) -> None:
    fn = Flaky(*[OSError() for _ in range(100)])
    with brace.deadline(3.5, clock=clock), pytest.raises(OSError) as info:
        driver.run(retry(clock, attempts=None), fn)
    assert fn.calls == 4
    assert "deadline" in info.value.__notes__[0]


def test_unbounded_retry_with_max_elapsed_is_allowed(driver: Driver, clock: VirtualClock) -> None:
    fn = Flaky(*[OSError() for _ in range(100)])
    with pytest.raises(OSError):
        driver.run(retry(clock, attempts=None, max_elapsed=2.5), fn)
    assert fn.calls == 3


def test_per_call_state_is_not_shared_between_calls(driver: Driver, clock: VirtualClock) -> None:
    policy = retry(clock, attempts=2, backoff=[1.0])
    for _ in range(3):
        fn = Flaky(OSError(), value="again")
        assert driver.run(policy, fn) == "again"
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_retry_works_on_methods_and_in_a_pipeline(clock: VirtualClock) -> None:
    policy = retry(clock)

    class Client:
        def __init__(self) -> None:
            self.fn = Flaky(OSError(), value="m")

        @policy
        def get(self) -> object:
            return self.fn()

    assert Client().get() == "m"
    assert brace.pipeline(policy)(Flaky(OSError(), value="p"))() == "p"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 2.5}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"backoff": -1}, "backoff"),
        ({"backoff": [0.1, -0.2]}, r"backoff\[1\]"),
        ({"backoff": [float("nan")]}, r"backoff\[0\]"),
        ({"on": 42}, "on"),
        ({"on": (ValueError, "x")}, "on"),
        ({"on_result": 3}, "on_result"),
        ({"max_elapsed": -1}, "max_elapsed"),
        ({"max_elapsed": 0}, "max_elapsed"),
        ({"budget": object()}, "budget"),
        ({"respect_retry_after": "yes"}, "respect_retry_after"),
        ({"rng": 3}, "rng"),
    ],
)
def test_bad_configuration_raises_config_error_naming_the_parameter(
    kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        Retry(**kwargs)


def test_repr_and_describe_show_the_configuration() -> None:
    policy = Retry("fetch", attempts=4, backoff=Backoff.constant(0.5))
    assert repr(policy) == (
        "brace.Retry('fetch', attempts=4, backoff=Backoff.constant(0.5), max_elapsed=None, "
        "budget=None, respect_retry_after=True)"
    )
    assert policy.describe()["policy"] == "Retry"
    assert policy.attempts == 4
    assert Backoff.constant(0.5) == policy.backoff
    assert Retry().name == "retry"


def test_docs_example_runs() -> None:
    root = Path(__file__).resolve().parent.parent
    runpy.run_path(str(root / "docs" / "examples" / "retry.py"), run_name="__main__")


def test_an_empty_on_tuple_retries_nothing(driver: Driver, clock: VirtualClock) -> None:
    fn = Flaky(OSError(), OSError())
    with pytest.raises(OSError):
        driver.run(retry(clock, on=()), fn)
    with pytest.raises(OSError):
        driver.call(retry(clock, on=()), fn)
    assert fn.calls == 2

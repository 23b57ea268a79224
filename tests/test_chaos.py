"""brace.chaos: injected faults, latency and results at a seeded rate, the enabled switch."""

from __future__ import annotations

import random
import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

import brace
from brace import chaos
from brace.testing import EventRecorder, VirtualClock, no_wait
from tests.conftest import Driver

DOCS = Path(__file__).resolve().parent.parent / "docs" / "examples"
CALLS = 4000


def ok() -> str:
    return "ok"


def count_faults(driver: Driver, policy: brace.Policy, calls: int) -> int:
    call = driver.decorate(policy, ok)
    faults = 0
    for _ in range(calls):
        try:
            call()
        except ConnectionError:
            faults += 1
    return faults


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.9])
def test_a_fault_fires_at_its_rate(rate: float) -> None:
    driver = Driver("sync")
    faults = count_faults(driver, chaos.Fault(ConnectionError(), rate, rng=random.Random(7)), CALLS)
    # Four binomial standard deviations: a seeded run is reproducible, and still a fair check.
    sd = (CALLS * rate * (1 - rate)) ** 0.5
    assert abs(faults - rate * CALLS) < 4 * sd


def test_the_async_shell_draws_the_same_sequence_as_the_sync_shell() -> None:
    sync, asyn = Driver("sync"), Driver("async")
    try:
        policy = chaos.Fault(ConnectionError(), 0.3, rng=random.Random(3))
        first = count_faults(sync, policy, 300)
        policy = chaos.Fault(ConnectionError(), 0.3, rng=random.Random(3))
        assert first == count_faults(asyn, policy, 300)
    finally:
        asyn.close()


@pytest.mark.parametrize(("rate", "expected"), [(0.0, 0), (1.0, 200)])
def test_rates_zero_and_one_are_never_and_always(
    driver: Driver, rate: float, expected: int
) -> None:
    assert expected == count_faults(driver, chaos.Fault(ConnectionError(), rate), 200)


def test_a_fault_does_not_run_the_call(driver: Driver) -> None:
    ran: list[int] = []
    with pytest.raises(ConnectionError):
        driver.run(chaos.Fault(ConnectionError("injected"), 1.0), lambda: ran.append(1))
    assert ran == []


def test_each_fault_is_a_fresh_exception_so_notes_do_not_pile_up(driver: Driver) -> None:
    template = ConnectionError("injected")
    seen: list[BaseException] = []
    for _ in range(3):
        try:
            driver.run(chaos.Fault(template, 1.0), ok)
        except ConnectionError as exc:
            exc.add_note("handled")
            seen.append(exc)
    assert len({id(exc) for exc in seen}) == 3
    assert all(exc.__notes__ == ["handled"] for exc in seen)
    assert seen[0].args == ("injected",)
    assert not hasattr(template, "__notes__")


def test_an_exception_class_or_factory_is_called_per_fault(driver: Driver) -> None:
    with pytest.raises(ConnectionError):
        driver.run(chaos.Fault(ConnectionError, 1.0), ok)
    with pytest.raises(brace.TimeoutExceededError):
        driver.run(chaos.Fault(lambda: brace.TimeoutExceededError("t", timeout=1.0), 1.0), ok)


def test_an_exception_that_cannot_be_copied_is_raised_as_it_is(driver: Driver) -> None:
    template = brace.TimeoutExceededError("slow", timeout=2.0)
    with pytest.raises(brace.TimeoutExceededError) as info:
        driver.run(chaos.Fault(template, 1.0), ok)
    assert info.value.timeout == 2.0


def test_latency_sleeps_through_the_policy_clock(driver: Driver, clock: VirtualClock) -> None:
    assert driver.run(chaos.Latency(0.5, 1.0, clock=clock), ok) == "ok"
    assert clock.sleeps == [0.5]
    assert clock.monotonic() == 0.5


def test_latency_is_not_skipped_by_no_wait(driver: Driver, clock: VirtualClock) -> None:
    with no_wait():
        driver.run(chaos.Latency(timedelta(seconds=2), 1.0, clock=clock), ok)
    assert clock.sleeps == [2.0]


def test_latency_may_come_from_a_distribution(driver: Driver, clock: VirtualClock) -> None:
    draws = iter([0.1, -1.0, 0.3])
    policy = chaos.Latency(lambda: next(draws), 1.0, clock=clock)
    for _ in range(3):
        driver.run(policy, ok)
    assert clock.sleeps == [0.1, 0.0, 0.3]


def test_latency_at_a_rate_delays_that_share_of_calls(clock: VirtualClock) -> None:
    call = chaos.Latency(1.0, 0.25, clock=clock, rng=random.Random(11))(ok)
    for _ in range(CALLS):
        call()
    sd = (CALLS * 0.25 * 0.75) ** 0.5
    assert abs(len(clock.sleeps) - 0.25 * CALLS) < 4 * sd


def test_result_answers_instead_of_the_call(driver: Driver) -> None:
    ran: list[int] = []

    def call() -> str:
        ran.append(1)
        return "real"

    assert driver.run(chaos.Result("injected", 1.0), call) == "injected"
    assert ran == []
    assert driver.run(chaos.Result("injected", 0.0), call) == "real"


def test_result_rate_is_respected(driver: Driver) -> None:
    call = driver.decorate(chaos.Result(None, 0.5, rng=random.Random(5)), ok)
    nones = sum(call() is None for _ in range(1000))
    assert abs(nones - 500) < 4 * (1000 * 0.25) ** 0.5


def test_disabled_chaos_never_fires_and_draws_nothing(driver: Driver) -> None:
    rng = random.Random(1)
    state = rng.getstate()
    assert (
        count_faults(driver, chaos.Fault(ConnectionError(), 1.0, enabled=False, rng=rng), 50) == 0
    )
    assert state == rng.getstate()


def test_an_enabled_callable_is_checked_on_every_call(driver: Driver) -> None:
    switch = {"on": False}
    call = driver.decorate(chaos.Result("chaos", 1.0, enabled=lambda: switch["on"]), ok)
    assert call() == "ok"
    switch["on"] = True
    assert call() == "chaos"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("", False),
    ],
)
def test_env_reads_the_variable_on_every_call(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    switch = chaos.env("BRACE_TEST_CHAOS")
    if value is None:
        monkeypatch.delenv("BRACE_TEST_CHAOS", raising=False)
    else:
        monkeypatch.setenv("BRACE_TEST_CHAOS", value)
    assert expected is switch()
    call = chaos.Result("chaos", 1.0, enabled=switch)(ok)
    assert ("chaos" if expected else "ok") == call()


def test_env_default_applies_when_the_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRACE_TEST_CHAOS", raising=False)
    assert chaos.env("BRACE_TEST_CHAOS", default=True)() is True


def test_each_injection_emits_an_event(driver: Driver, recorder: EventRecorder) -> None:
    driver.run(chaos.Result("x", 1.0, name="lie"), ok)
    assert [chaos.Injected("lie", "result")] == recorder.of(chaos.Injected)


def test_chaos_is_an_ordinary_pipeline_member(driver: Driver) -> None:
    policy = brace.pipeline(
        brace.Fallback("fallback answered"), chaos.Fault(ConnectionError("injected"), 1.0)
    )
    assert driver.run(policy, ok) == "fallback answered"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: chaos.Fault(ValueError(), -0.1), r"rate=-0.1 is out of range"),
        (lambda: chaos.Fault(ValueError(), 1.5), r"rate=1.5 is out of range"),
        (lambda: chaos.Fault(ValueError(), float("nan")), r"rate=nan is not a number"),
        (lambda: chaos.Fault(cast("Any", 42), 0.5), r"exception=42 is not allowed"),
        (lambda: chaos.Latency(-1, 0.5), r"seconds=-1 is out of range"),
        (lambda: chaos.Result(1, 0.5, enabled=cast("Any", "yes")), r"enabled='yes' is not allowed"),
        (lambda: chaos.Result(1, 0.5, rng=cast("Any", 7)), r"rng=7 is not allowed"),
        (lambda: chaos.env(""), r"variable='' is not allowed"),
    ],
)
def test_bad_configuration_raises_config_error(build: Any, message: str) -> None:
    with pytest.raises(brace.ConfigError, match=message):
        build()


def test_chaos_objects_report_the_public_module() -> None:
    for obj in (chaos.Fault, chaos.Latency, chaos.Result, chaos.Injected, chaos.env):
        assert obj.__module__ == "brace.chaos"
    assert repr(chaos.Latency(0.5, 0.1)) == "brace.chaos.Latency('latency', seconds=0.5, rate=0.1)"
    assert chaos is brace.chaos


def test_the_chaos_guide_example_runs() -> None:
    runpy.run_path(str(DOCS / "chaos.py"), run_name="__main__")

"""Fallback: alternatives, chains, what counts as a failure, notes, events, bad input."""

from __future__ import annotations

import asyncio
import runpy
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import brace
from brace.testing import EventRecorder, VirtualClock
from tests.conftest import Driver

DOCS = Path(__file__).resolve().parent.parent / "docs" / "examples"


class Passthrough(brace.Policy):
    """Runs the call as it is; like every ordinary policy it checks the deadline on entry."""

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn  # the base puts the deadline guard in front

    def _awrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        return fn


def down(*args: Any, **kwargs: Any) -> str:
    raise ConnectionError("down")


def empty() -> object:
    return []


def test_a_value_answers_a_failed_call(driver: Driver) -> None:
    assert driver.run(brace.Fallback("cached"), down) == "cached"


def test_a_success_is_returned_untouched_and_no_alternative_runs(driver: Driver) -> None:
    calls: list[str] = []

    def alternative() -> str:
        calls.append("alt")
        return "alt"

    assert driver.run(brace.Fallback(alternative), lambda: "fresh") == "fresh"
    assert calls == []


def test_a_callable_alternative_gets_the_original_arguments(driver: Driver) -> None:
    def alternative(user: int, *, limit: int) -> str:
        return f"popular for {user} limit {limit}"

    assert driver.run(brace.Fallback(alternative), down, 7, limit=3) == "popular for 7 limit 3"


def test_inside_an_alternative_sys_exception_is_the_failure_being_handled(driver: Driver) -> None:
    seen: list[BaseException | None] = []

    def alternative() -> str:
        seen.append(sys.exception())
        return "alt"

    driver.run(brace.Fallback(alternative), down)
    assert len(seen) == 1
    assert isinstance(seen[0], ConnectionError)


def test_a_chain_where_each_level_fails_differently_reaches_the_one_that_works(
    driver: Driver, recorder: EventRecorder
) -> None:
    def raises_key_error(user: int) -> str:
        raise KeyError(user)

    def returns_nothing(user: int) -> str | None:
        return None

    cache = brace.LastGood(60, clock=VirtualClock())  # has learned nothing yet
    fallback = brace.Fallback(
        [raises_key_error, returns_nothing, cache, lambda user: f"popular {user}"],
        on_result=lambda result: result is None,
    )
    assert driver.run(fallback, down, 5) == "popular 5"
    assert [brace.FallbackUsed("fallback", 4, "ConnectionError")] == recorder.of(brace.FallbackUsed)


def test_when_every_alternative_fails_the_original_exception_is_reraised_with_notes(
    driver: Driver,
) -> None:
    original = ConnectionError("down")

    def call() -> str:
        raise original

    def first() -> str:
        raise KeyError("k")

    def second() -> str | None:
        return None

    fallback = brace.Fallback(
        [first, second, brace.LastGood(60, name="cache")], on_result=lambda r: r is None
    )
    with pytest.raises(ConnectionError) as info:
        driver.run(fallback, call)
    assert original is info.value
    where = "test_when_every_alternative_fails_the_original_exception_is_reraised_with_notes"
    rejected = "returned None, rejected by on_result"
    assert info.value.__notes__ == [
        f"fallback 'fallback': alternative 1 ({where}.<locals>.first) raised KeyError('k')",
        f"fallback 'fallback': alternative 2 ({where}.<locals>.second) {rejected}",
        "fallback 'fallback': alternative 3 (LastGood 'cache') had no fresh value",
    ]


def test_an_exception_not_matching_on_propagates_untouched(driver: Driver) -> None:
    fallback = brace.Fallback("alt", on=TimeoutError)
    with pytest.raises(ConnectionError) as info:
        driver.run(fallback, down)
    assert not hasattr(info.value, "__notes__")


def test_on_accepts_a_predicate(driver: Driver) -> None:
    fallback = brace.Fallback("alt", on=lambda exc: "down" in str(exc))
    assert driver.run(fallback, down) == "alt"


def test_brace_rejections_always_count_whatever_on_says(driver: Driver) -> None:
    def rejected() -> str:
        raise brace.CircuitOpenError("open", policy="b", retry_after=1.0)

    assert driver.run(brace.Fallback("alt", on=ValueError), rejected) == "alt"


def test_an_expired_deadline_serves_the_alternative(driver: Driver) -> None:
    clock = VirtualClock()
    policy = brace.pipeline(brace.Fallback("alt"), Passthrough())
    with brace.deadline(1.0, clock=clock):
        clock.advance(2.0)
        assert driver.run(policy, lambda: "never runs") == "alt"


def test_a_rejected_result_is_replaced_and_the_event_names_no_exception(
    driver: Driver, recorder: EventRecorder
) -> None:
    fallback = brace.Fallback("alt", on_result=lambda r: r == [])
    assert driver.run(fallback, empty) == "alt"
    assert [brace.FallbackUsed("fallback", 1, None)] == recorder.of(brace.FallbackUsed)


def test_a_rejected_result_is_returned_as_it_is_when_every_alternative_fails(
    driver: Driver,
) -> None:
    def broken() -> list[int]:
        raise KeyError("k")

    fallback = brace.Fallback(broken, on_result=lambda r: r == [])
    assert driver.run(fallback, empty) == []


def test_a_list_value_is_written_as_a_chain_of_one(driver: Driver) -> None:
    answer: object = driver.run(brace.Fallback([[]]), down)
    assert answer == []


def test_a_lastgood_in_the_chain_learns_every_success_per_key(driver: Driver) -> None:
    clock = VirtualClock()
    cache = brace.LastGood(60, clock=clock)
    state = {"up": True}

    def personalized(user: int) -> str:
        if not state["up"]:
            raise ConnectionError("down")
        return f"for {user}"

    fallback = brace.Fallback([cache, lambda user: "popular"])
    call = driver.decorate(fallback, personalized)
    assert call(1) == "for 1"
    state["up"] = False
    assert call(1) == "for 1"
    assert call(2) == "popular"
    clock.advance(61)
    assert call(1) == "popular"


def test_a_failing_listener_never_breaks_the_fallback(driver: Driver) -> None:
    fallback = brace.Fallback("alt")

    def broken(event: brace.Event) -> None:
        raise RuntimeError("listener bug")

    with fallback.listen(broken) as sub:
        assert driver.run(fallback, down) == "alt"
    assert sub.failures == 1


def test_call_runs_without_decorating(driver: Driver) -> None:
    assert driver.call(brace.Fallback("alt"), down) == "alt"


def test_keyboard_interrupt_is_never_handled() -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        brace.Fallback("alt")(interrupted)()


async def test_cancellation_is_never_handled() -> None:
    async def cancelled() -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await brace.Fallback("alt")(cancelled)()


async def test_an_async_alternative_is_awaited_for_an_async_call() -> None:
    async def alternative(x: int) -> int:
        return x * 2

    async def failing(x: int) -> int:
        raise ConnectionError

    assert await brace.Fallback([alternative])(failing)(21) == 42


def test_an_async_alternative_for_a_sync_function_is_refused_at_decoration() -> None:
    async def alternative() -> str:
        return "alt"

    with pytest.raises(TypeError, match="async alternative"):
        brace.Fallback(alternative)(down)


def test_an_async_alternative_for_a_sync_call_raises_type_error() -> None:
    async def alternative() -> str:
        return "alt"

    with pytest.raises(TypeError, match="async alternative"):
        brace.Fallback(alternative).call(down)


@pytest.mark.parametrize(
    ("alternatives", "kwargs", "message"),
    [
        ([], {}, r"alternatives=\[\] is an empty chain"),
        ([brace.Fallback("x")], {}, "is a policy"),
        (["value", lambda: "x"], {}, "can never run"),
        ("alt", {"on": 42}, "on=42 is not allowed"),
        ("alt", {"on": (ValueError, 3)}, "on=.* is not allowed"),
        ("alt", {"on_result": "yes"}, "on_result='yes' is not callable"),
        ("alt", {"name": ""}, "name='' is not allowed"),
    ],
)
def test_bad_configuration_raises_config_error(
    alternatives: object, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(brace.ConfigError, match=message):
        brace.Fallback(alternatives, **kwargs)


def test_repr_and_describe_list_the_alternatives() -> None:
    fallback = brace.Fallback([brace.LastGood(5), "popular"], name="recs")
    assert (
        repr(fallback)
        == "brace.Fallback('recs', alternatives=[\"LastGood 'lastgood'\", \"'popular'\"])"
    )
    assert fallback.describe() == {
        "policy": "Fallback",
        "name": "recs",
        "alternatives": ["LastGood 'lastgood'", "'popular'"],
    }


def test_the_degradation_guide_example_runs() -> None:
    runpy.run_path(str(DOCS / "degradation.py"), run_name="__main__")

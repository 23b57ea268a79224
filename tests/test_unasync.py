"""sync_twin: a synchronous function compiled from an async one's source, written once."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from brace._unasync import IS_ASYNC, sync_twin


class Clock:
    def sleep(self, seconds: float) -> str:
        return f"slept {seconds}"

    async def asleep(self, seconds: float) -> str:
        return f"asleep {seconds}"


def factory(clock: Clock) -> Any:
    async def run(fn: Any, *args: Any) -> tuple[str, Any, bool]:
        slept = await clock.asleep(0.5)
        try:
            result = await fn(*args)
        finally:
            pass
        return slept, result, IS_ASYNC

    return run


def test_the_twin_drops_await_renames_and_knows_it_is_not_async() -> None:
    twin = sync_twin(factory, "sync_factory", asleep="sleep")
    run = twin(Clock())
    assert run(lambda x: x * 2, 21) == ("slept 0.5", 42, False)
    assert twin.__name__ == "sync_factory"
    assert twin.__doc__ == factory.__doc__


async def test_the_original_is_untouched() -> None:
    async def double(x: int) -> int:
        return x * 2

    assert await factory(Clock())(double, 21) == ("asleep 0.5", 42, True)


def test_a_traceback_of_the_twin_points_at_the_async_source_line() -> None:
    run = sync_twin(factory, "sync_factory", asleep="sleep")(Clock())

    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError) as info:
        run(boom)
    frames = traceback.extract_tb(info.value.__traceback__)
    shell = next(frame for frame in frames if frame.name == "run")
    assert shell.filename == __file__
    assert shell.line == "result = await fn(*args)"


def test_a_function_without_source_is_refused_clearly() -> None:
    namespace: dict[str, Any] = {}
    exec("async def made():\n    return 1\n", namespace)  # noqa: S102 - no source file
    with pytest.raises(RuntimeError, match="cannot be read"):
        sync_twin(namespace["made"], "made_sync")

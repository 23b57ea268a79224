"""Decoration keeps types: a pipeline is as typed as a single policy, methods included.

The test command runs ``mypy --strict`` on tests/, which checks every
``assert_type`` below (an ``Any`` where a type is expected fails it); pytest
runs the same code, so each assertion also holds at run time. ``--strict``
reports unused ``type: ignore`` comments, so each ignore below asserts that
mypy rejects that call.

Functions whose type is compared whole take positional-only parameters: a
``Callable[[int], str]`` has no parameter names, and mypy compares them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, assert_type

import brace

pipe = brace.pipeline(
    brace.Fallback(["fallback"]),
    brace.Retry(attempts=2, backoff=brace.Backoff.constant(0)),
    brace.CircuitBreaker("typing"),
    brace.Timeout(5.0),
)
single = brace.Retry(attempts=2, backoff=brace.Backoff.constant(0))


@pipe
def parse(text: str, /) -> str:
    return text.upper()


@pipe
async def fetch(url: str, /) -> str:
    return url.lower()


@pipe
def render(count: int, *, unit: str = "item") -> str:
    return f"{count} {unit}"


@single
def double(n: int, /) -> int:
    return 2 * n


@single
async def adouble(n: int, /) -> int:
    return 2 * n


class Client:
    """Methods decorated by a pipeline, called through an instance or the class."""

    def __init__(self, base: str) -> None:
        self.base = base

    @pipe
    def get(self, path: str, /) -> str:
        return self.base + path

    @pipe
    async def aget(self, path: str, /) -> str:
        return self.base + path

    @pipe
    @classmethod
    def local(cls) -> Client:
        return cls("http://localhost")

    @pipe
    @staticmethod
    def version() -> int:
        return 2


def test_a_function_decorated_by_a_pipeline_keeps_its_type() -> None:
    assert_type(parse, Callable[[str], str])
    assert_type(parse("a"), str)
    assert parse("a") == "A"
    assert_type(render(3, unit="row"), str)
    assert render(3, unit="row") == "3 row"


def test_a_coroutine_function_decorated_by_a_pipeline_keeps_its_type() -> None:
    assert_type(fetch, Callable[[str], Coroutine[Any, Any, str]])

    async def main() -> str:
        return await fetch("A")

    assert_type(asyncio.run(main()), str)
    assert asyncio.run(main()) == "a"


def test_a_function_decorated_by_a_single_policy_keeps_its_type() -> None:
    assert_type(double, Callable[[int], int])
    assert_type(adouble, Callable[[int], Coroutine[Any, Any, int]])
    assert_type(double(2), int)
    assert double(2) == 4
    assert asyncio.run(adouble(2)) == 4


def test_a_method_decorated_by_a_pipeline_keeps_its_type_through_an_instance() -> None:
    client = Client("http://x")
    assert_type(client.get, Callable[[str], str])
    assert_type(Client.get, Callable[[Client, str], str])
    assert_type(client.get("/a"), str)
    assert client.get("/a") == "http://x/a"
    assert_type(client.aget, Callable[[str], Coroutine[Any, Any, str]])
    assert asyncio.run(client.aget("/b")) == "http://x/b"


def test_class_and_static_methods_decorated_by_a_pipeline_keep_their_types() -> None:
    assert_type(Client.local(), Client)
    assert Client.local().base == "http://localhost"
    assert_type(Client.version(), int)
    assert Client.version() == 2


def test_call_and_acall_return_the_functions_result_type() -> None:
    def plain(n: int, *, scale: float = 1.0) -> float:
        return n * scale

    async def aplain(n: int) -> list[int]:
        return [n]

    assert_type(pipe.call(plain, 2, scale=1.5), float)
    assert pipe.call(plain, 2, scale=1.5) == 3.0
    assert_type(single.call(plain, 2), float)

    async def main() -> list[int]:
        assert_type(await single.acall(aplain, 1), list[int])
        return await pipe.acall(aplain, 2)

    assert_type(asyncio.run(main()), list[int])
    assert asyncio.run(main()) == [2]


def test_mypy_rejects_calls_that_do_not_match_the_decorated_signature() -> None:
    # mypy must reject each line, or --strict reports its ignore as unused. Each also runs:
    # the functions accept these values at run time, or the pipeline's Fallback answers.
    assert render("3") == "3 item"  # type: ignore[arg-type]
    assert str(double("ab")) == "abab"  # type: ignore[arg-type]
    assert pipe.call(render, 1, unit=2) == "1 2"  # type: ignore[arg-type]
    assert Client("x").get(["/a"]) == "fallback"  # type: ignore[arg-type]

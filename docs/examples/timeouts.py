"""Timeouts and deadlines: bound each attempt, and the whole operation.

Run: python docs/examples/timeouts.py
"""

import asyncio
import threading

import brace

per_attempt = brace.Timeout(0.05, name="search")


@per_attempt
async def slow_search(query: str) -> str:
    await asyncio.Event().wait()  # a dependency that never answers
    return query


@per_attempt
async def fast_search(query: str) -> str:
    return f"results for {query!r}"


async def main() -> None:
    print(await fast_search("umbrella"))
    try:
        await slow_search("umbrella")
    except brace.TimeoutExceededError as exc:
        print(f"gave up: {exc} (source={exc.source})")
    # A deadline tighter than the Timeout wins, and the error says so.
    with brace.deadline(0.02):
        try:
            await slow_search("umbrella")
        except brace.TimeoutExceededError as exc:
            print(f"gave up: {exc} (source={exc.source})")


# Sync code: the call runs on a worker thread; past the limit brace stops
# waiting, and the abandoned call finishes in the background, counted.
release = threading.Event()


@brace.Timeout(0.05, name="legacy", max_abandoned=4)
def legacy_lookup() -> str:
    release.wait(1.0)  # pretend this blocking client has no timeout of its own
    return "value"


if __name__ == "__main__":
    asyncio.run(main())
    try:
        legacy_lookup()
    except brace.TimeoutExceededError as exc:
        print(f"gave up: {exc}")
    release.set()
    print(per_attempt.metrics())

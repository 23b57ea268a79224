"""Recommendations that degrade gracefully: personalized, then last good, then popular.

A timeout bounds each call to the recommender, a breaker stops calling it
while it is down, and a fallback chain answers from the last good
recommendations for the same user, else from the popular list.
"""

from __future__ import annotations

import asyncio

import brace

POPULAR = ["dune", "neuromancer", "the-left-hand-of-darkness"]
recommender = {"mode": "up"}  # "up", "slow" (hangs) or "down" (refuses connections)


async def personalized(user_id: int) -> list[str]:
    """Stands in for the recommendation service."""
    if recommender["mode"] == "down":
        raise ConnectionError("recommender unavailable")
    if recommender["mode"] == "slow":
        await asyncio.Event().wait()  # never answers; the timeout cuts it off
    return [f"for-{user_id}-{n}" for n in range(3)]


def popular(user_id: int) -> list[str]:
    """The last resort: the same list for everyone, always available."""
    return POPULAR


cached = brace.LastGood(max_age=300, max_entries=10_000, name="recs-cache")
fallback = brace.Fallback([cached, popular], name="recs")
breaker = brace.CircuitBreaker("recommender", consecutive_failures=3, open_for=30)
recommendations = brace.pipeline(fallback, breaker, brace.Timeout(0.05))


@recommendations
async def recommend(user_id: int) -> list[str]:
    return await personalized(user_id)


def report(event: brace.Event) -> None:
    if isinstance(event, brace.FallbackUsed):
        print(f"    alternative {event.level} answered after {event.exception}")


async def main() -> None:
    fallback.listen(report)
    fresh = await recommend(1)  # a success: the cache learns it
    print("up:", fresh)

    recommender["mode"] = "slow"
    print("slow, user 1 (cached):", await recommend(1))
    print("slow, user 2 (not cached):", await recommend(2))

    recommender["mode"] = "down"
    for _ in range(3):
        await recommend(2)
    print("breaker after 3 more failures:", breaker.state.name)
    print("down, user 1:", await recommend(1))
    if await recommend(1) != fresh or await recommend(2) != POPULAR:
        raise RuntimeError("the fallback chain did not answer as documented")


if __name__ == "__main__":
    asyncio.run(main())

"""The README's pipeline against a fake recommendations service that fails for a while.

Run: python docs/examples/quickstart.py
"""

from __future__ import annotations

import asyncio

import brace
from brace.testing import EventRecorder, no_wait


class FakeRecs:
    """Succeeds, then refuses every connection while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def get(self, user_id: str) -> list[str]:
        self.calls += 1
        if self.down:
            raise ConnectionError("connection refused")
        return [f"for-{user_id}-1", f"for-{user_id}-2"]


service = FakeRecs()
breaker = brace.CircuitBreaker("recs", failure_rate=0.5, minimum_calls=4, open_for=30)

recommendations = brace.pipeline(
    brace.Fallback([brace.LastGood(max_age=300), ["bestsellers"]]),  # degrade, don't fail
    brace.Retry(attempts=3, budget=brace.RetryBudget()),  # backoff with full jitter
    breaker,  # fail fast while it's down
    brace.Bulkhead("recs", max_concurrent=20),  # one hang can't take all
    brace.Timeout(0.8),  # bound each attempt
)


@recommendations
async def fetch_recommendations(user_id: str) -> list[str]:
    return await service.get(user_id)


async def handler(user_id: str) -> list[str]:
    with brace.deadline(2.0):  # the whole request, retries included
        return await fetch_recommendations(user_id)


async def main() -> dict[str, object]:
    recorder = EventRecorder()
    with brace.listen(recorder), no_wait():
        fresh = await handler("ada")
        service.down = True
        cached = await handler("ada")  # the last good answer for this user
        stranger = await handler("bob")  # nothing cached for bob: the static default
        calls_while_open = service.calls
        for _ in range(20):
            await handler("ada")
        calls_after = service.calls
    return {
        "fresh": fresh,
        "cached": cached,
        "stranger": stranger,
        "state": breaker.state.name,
        "calls_while_open": calls_after - calls_while_open,
        "events": sorted(set(recorder.kinds())),
    }


if __name__ == "__main__":
    outcome = asyncio.run(main())
    for key, value in outcome.items():
        print(f"{key:>16}: {value}")

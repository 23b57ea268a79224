"""Two workers of one service share a rate limit and a circuit breaker through Redis.

In production each worker process builds its own RedisStore at start-up; here
two stores in one process stand for two workers, so the example runs alone.
It needs a Redis server: pass its URL (default redis://localhost:6379/0).
Run: python docs/examples/many_processes.py [redis://host:6379/0]
"""

import contextlib
import sys
import uuid

import brace
from brace.store import RedisStore


def worker(store: RedisStore) -> dict[str, brace.Policy]:
    """What every worker process builds once, with its own store: the same names everywhere."""
    return {
        "quota": brace.RateLimiter("partner-api", rate=20, burst=10, store=store),
        "breaker": brace.CircuitBreaker(
            "payments", consecutive_failures=3, open_for=30, store=store
        ),
    }


def charge() -> None:
    raise ConnectionError("payments is down")


def main(url: str) -> dict[str, object]:
    prefix = f"example-{uuid.uuid4().hex[:8]}"  # a fresh namespace for this run
    stores = [RedisStore.from_url(url, prefix=prefix) for _ in range(2)]
    try:
        first, second = (worker(store) for store in stores)
        admitted = 0
        for n in range(30):  # both workers call at once: one quota of 10 back to back
            try:
                (first if n % 2 else second)["quota"].call(lambda: None)
                admitted += 1
            except brace.RateLimitedError:
                pass
        for _ in range(3):  # the first worker sees payments fail three times ...
            with contextlib.suppress(ConnectionError):
                first["breaker"].call(charge)
        brace.SystemClock().sleep(0.3)  # ... and within one sync interval (0.1 s) ...
        try:
            second["breaker"].call(lambda: "charged")  # ... the second one fails fast too
            seen = "CLOSED"
        except brace.CircuitOpenError as exc:
            seen = f"open, retry after {exc.retry_after:.0f} s"
        return {"admitted": admitted, "second worker's breaker": seen}
    finally:
        for store in stores:
            store.close()


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else "redis://localhost:6379/0"))

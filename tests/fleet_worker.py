"""One process of a fleet sharing a RedisStore: run by test_redis_fleet.py, prints JSON.

Usage: ``python -m tests.fleet_worker``. A worker prints ``{"ready": true}`` once it
has imported everything, then runs one scenario per line it reads on stdin (JSON:
``scenario``, ``url``, ``prefix``, ``index``, ``start`` and the scenario's own
arguments) and answers each with one JSON line on stdout. A scenario sets up,
waits for the wall-clock instant ``start`` (so the processes begin together), and
works; its other times (``..._after``) are seconds after ``start``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

import brace
from brace.store import RedisStore

REAL = brace.SystemClock()


def say(answer: dict[str, Any]) -> None:
    """One JSON line to the test, at once."""
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def wait_until(wall: float) -> None:
    REAL.sleep(max(wall - REAL.wall(), 0.0))


def ready(args: dict[str, Any]) -> None:
    """Set up: now wait for the fleet's start."""
    wait_until(args["start"])


def rate(args: dict[str, Any], store: RedisStore) -> dict[str, Any]:
    """Call as fast as the shared limit allows for ``seconds``: how many were admitted."""
    limiter = brace.RateLimiter("api", rate=args["rate"], store=store)
    ready(args)
    end = args["start"] + args["seconds"]
    admitted = 0
    while REAL.wall() < end:
        try:
            limiter.call(lambda: None)
            admitted += 1
        except brace.RateLimitedError as exc:
            REAL.sleep(min(exc.retry_after or 0.001, 0.002, max(end - REAL.wall(), 0.0)))
    return {"admitted": admitted}


def breaker(args: dict[str, Any], store: RedisStore) -> dict[str, Any]:
    """Process 0 trips the breaker; the others note when they first see it reject.

    Then, once ``open_for`` has passed, every process asks for trials for ``hold``
    seconds, keeping each trial it gets until the end of that span.
    """
    shared = brace.CircuitBreaker(
        "payments",
        consecutive_failures=5,
        open_for=args["open_for"],
        half_open_calls=args["half_open_calls"],
        store=store,
    )
    ready(args)
    result: dict[str, Any] = {}
    if args["index"] == 0:
        for _ in range(5):
            with contextlib.suppress(ConnectionError):
                shared.call(_refused)
        result["tripped"] = REAL.wall()
    else:
        while True:
            try:
                shared.call(lambda: None)
            except brace.CircuitOpenError:
                result["rejected_at"] = REAL.wall()
                break
            if REAL.wall() > args["start"] + 5:
                break
            REAL.sleep(0.002)
    trials_at = args["start"] + args["trials_after"]
    wait_until(trials_at)
    trials = []
    end = trials_at + args["hold"]
    while REAL.wall() < end:
        try:
            trials.append(shared.acquire())
        except brace.CircuitOpenError:
            REAL.sleep(0.005)
    result["trials"] = len(trials)
    for permit in trials:
        permit.success()
    return result


def _refused() -> None:
    raise ConnectionError("refused")


def bulkhead(args: dict[str, Any], store: RedisStore) -> dict[str, Any]:
    """``threads`` threads each make ``calls`` requests to the server through the bulkhead."""
    fleet = brace.Bulkhead(
        "legacy-db", max_concurrent=args["max_concurrent"], max_queue=100, max_wait=10, store=store
    )
    errors: list[str] = []

    def fetch() -> None:
        with urllib.request.urlopen(args["server"], timeout=10) as response:  # noqa: S310
            response.read()

    def work() -> None:
        for _ in range(args["calls"]):
            try:
                fleet.call(fetch)
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(args["threads"])]
    ready(args)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"errors": errors}


def hold(args: dict[str, Any], store: RedisStore) -> dict[str, Any]:
    """Take the bulkhead's only permit and keep it until killed."""
    fleet = brace.Bulkhead("held", max_concurrent=1, store=store)

    def forever() -> None:
        say({"holding": True})
        REAL.sleep(3600)

    fleet.call(forever)
    return {}


def outage(args: dict[str, Any], store: RedisStore) -> dict[str, Any]:
    """Call through a shared pipeline while the test kills and restarts Redis.

    Records every exception (there must be none), the slowest call, the store
    events, and when this process saw the breaker ``control``, forced open by
    process 0 after the restart, as FORCED_OPEN.
    """
    events: list[tuple[float, brace.Event]] = []
    store.listen(lambda event: events.append((REAL.wall(), event)))
    policy = brace.pipeline(
        brace.CircuitBreaker("orders", store=store),
        brace.RateLimiter("orders", rate=10_000, store=store),
        brace.Bulkhead("orders", max_concurrent=50, store=store),
    )
    budget = brace.RetryBudget(name="orders", store=store)
    control = brace.CircuitBreaker("control", store=store)
    failures: list[str] = []
    slowest = 0.0
    calls = 0
    seen_forced = None
    ready(args)
    end, force_at = args["start"] + args["end_after"], args["start"] + args["force_after"]
    while REAL.wall() < end:
        began = REAL.monotonic()
        try:
            policy.call(lambda: None)
            budget.deposit()
            budget.try_withdraw()
        except Exception as exc:
            failures.append(repr(exc))
        slowest = max(slowest, REAL.monotonic() - began)
        calls += 1
        if args["index"] == 0 and REAL.wall() >= force_at and seen_forced is None:
            control.force_open()
        if seen_forced is None and control.state is brace.State.FORCED_OPEN:
            seen_forced = REAL.wall()
        REAL.sleep(0.005)
    return {
        "failures": failures,
        "slowest": slowest,
        "calls": calls,
        "seen_forced": seen_forced,
        "events": [
            (at, type(event).__name__, getattr(event, "outage", None)) for at, event in events
        ],
    }


SCENARIOS: dict[str, Callable[[dict[str, Any], RedisStore], dict[str, Any]]] = {
    "rate": rate,
    "breaker": breaker,
    "bulkhead": bulkhead,
    "hold": hold,
    "outage": outage,
}


def main() -> None:
    say({"ready": True})
    for line in sys.stdin:
        args = json.loads(line)
        store = RedisStore.from_url(
            args["url"],
            prefix=args["prefix"],
            sync_interval=args.get("sync_interval", 0.1),
            lease_ttl=args.get("lease_ttl", 5.0),
            timeout=args.get("timeout", 0.05),
        )
        try:
            result = SCENARIOS[args["scenario"]](args, store)
        finally:
            store.close()
        say(result)


if __name__ == "__main__":
    main()

"""The Redis store against peers, on one local redis-server, in one run.

Run: ``python benchmarks/redis.py`` (``--rounds 3`` for a quick look).
Needs ``pip install -e '.[bench,dev]'`` and Debian's ``redis-server``; it starts
its own server on a free port (persistence off) and stops it at the end.

* Rate limiters, one Redis-backed limit with room for every call: calls per
  second, sync, for brace's `RateLimiter` on a `RedisStore` (GCRA, one script),
  ``limits``' moving window on its ``RedisStorage`` and pyrate-limiter's
  ``RedisBucket``, beside a bare redis-py ``PING`` (one round trip, the floor
  of every row); the client's CPU time per call (what the limiter costs its
  process, whatever the network's latency); and what each call sent to
  Redis, from ``INFO commandstats`` (commands a script runs inside Redis are
  counted too, and marked: they are not round trips).
* Circuit breaker, success path: ns per call with the in-memory store and
  with a `RedisStore`, and the Redis commands the latter sent over the run:
  the background sync, one script per ``sync_interval``, whatever the calls.

Every figure is the median of interleaved rounds; ratios compare rows of
this run only.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This file is named like redis-py: its folder must not be where `import redis` looks.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from tests.redis_server import RedisServer, commands_processed, require_redis

import brace
from brace.store import MemoryStore, RedisStore

#: Commands brace's and the peers' Lua scripts run inside Redis (not round trips).
IN_SCRIPT = {"time", "get", "set", "zadd", "zcount", "zremrangebyscore", "zrange", "expire",
             "pexpire", "zcard", "hget", "hset", "hgetall", "lpush", "ltrim", "lrange", "llen",
             "lindex", "rpush", "del", "exists", "incrby", "pttl", "ttl", "lpop", "zrangebyscore",
             "zrem", "zrevrange", "zscore", "type"}  # fmt: skip


#: The floor: one bare round trip through redis-py, no limiter.
PING = "redis-py PING (one round trip, no limiter)"


def calls_per_second(op: Callable[[], object], seconds: float) -> tuple[float, float]:
    """``(calls per wall-second, this process's CPU seconds per call)``."""
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    end = start + seconds
    while True:
        for _ in range(100):
            op()
        done += 100
        now = time.perf_counter()
        if now >= end:
            return done / (now - start), (time.process_time() - cpu) / done


async def acalls_per_second(op: Callable[[], Any], seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(100):
            await op()
        done += 100
        now = time.perf_counter()
        if now >= end:
            return done / (now - start)


def per_call(server: RedisServer, op: Callable[[], object], calls: int) -> dict[str, float]:
    """What ``calls`` calls of ``op`` sent to Redis: commands per call, from INFO commandstats."""
    server.client().config_resetstat()
    for _ in range(calls):
        op()
    stats = commands_processed(server)
    for measuring in ("config|resetstat", "info", "hello"):  # this benchmark's own client
        stats.pop(measuring, None)
    return {name: count / calls for name, count in sorted(stats.items())}


def rate_limiters(server: RedisServer) -> dict[str, Callable[[], object]]:
    import limits
    import pyrate_limiter

    import redis

    store = RedisStore.from_url(server.url, prefix="bench")
    brace_limiter = brace.RateLimiter("bench", rate=1e9, store=store)

    item = limits.parse("1000000000/second")
    moving = limits.strategies.MovingWindowRateLimiter(limits.storage.RedisStorage(server.url))

    bucket = pyrate_limiter.RedisBucket.init(
        [pyrate_limiter.Rate(1_000_000_000, pyrate_limiter.Duration.SECOND)],
        redis.Redis(host="127.0.0.1", port=server.port),
        "bench-pyrate",
    )
    pyrate = pyrate_limiter.Limiter(bucket)

    def noop() -> None:
        return None

    ping = redis.Redis(host="127.0.0.1", port=server.port).ping
    return {
        "brace RateLimiter (RedisStore, GCRA)": lambda: brace_limiter.call(noop),
        "limits MovingWindowRateLimiter (RedisStorage)": lambda: moving.hit(item, "bench"),
        "pyrate-limiter Limiter (RedisBucket)": lambda: pyrate.try_acquire("bench"),
        PING: ping,
    }


def breakers(server: RedisServer, sync_interval: float) -> dict[str, Any]:
    redis_store = RedisStore.from_url(server.url, prefix="bench", sync_interval=sync_interval)
    return {
        "memory": brace.CircuitBreaker("bench", store=MemoryStore()),
        "redis": brace.CircuitBreaker("bench", store=redis_store),
        "store": redis_store,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.4, help="per round and row")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    server = RedisServer(require_redis()).start()
    try:
        run(server, args.seconds, args.rounds)
    finally:
        server.stop()


def run(server: RedisServer, seconds: float, rounds: int) -> None:
    print(
        f"brace Redis benchmark: Python {platform.python_version()}, redis-server on "
        f"localhost, {rounds} rounds x {seconds:g} s per row, medians"
    )
    limiters = rate_limiters(server)
    for op in limiters.values():
        op()  # load scripts, open connections
    rates: dict[str, list[float]] = {label: [] for label in limiters}
    cpus: dict[str, list[float]] = {label: [] for label in limiters}
    for _ in range(rounds):
        for label, op in limiters.items():
            rate, cpu = calls_per_second(op, seconds)
            rates[label].append(rate)
            cpus[label].append(cpu)
    brace_label = next(iter(limiters))
    best = statistics.median(rates[brace_label])
    least = statistics.median(cpus[brace_label])
    # Each call waits for one round trip, so calls/s is bounded by the machine's loopback
    # latency (the PING row); the client's CPU per call is what the limiter itself costs.
    print("\nRate limiter on Redis, one shared limit, sync calls")
    print(f"  {'':48} {'calls/s':>9} {'brace is':>9} {'client CPU':>11} {'brace uses':>10}")
    for label, samples in rates.items():
        value, cpu = statistics.median(samples), statistics.median(cpus[label])
        ratio = "" if label in (brace_label, PING) else f"{best / value:.1f}x"
        share = "" if label in (brace_label, PING) else f"{least / cpu:.2f}x"
        print(f"  {label:48} {value:9,.0f} {ratio:>9} {cpu * 1e6:8.1f} us {share:>10}")
    print("\n  Sent to Redis per call (INFO commandstats; * = run inside a script)")
    for label, op in limiters.items():
        if label == PING:
            continue
        sent = per_call(server, op, 1000)
        shown = ", ".join(
            f"{name}{'*' if name in IN_SCRIPT else ''} {count:g}" for name, count in sent.items()
        )
        trips = sum(count for name, count in sent.items() if name not in IN_SCRIPT)
        print(f"  {label:48} round trips {trips:g}: {shown}")

    store = RedisStore.from_url(server.url, prefix="bench-async")
    async_limiter = brace.RateLimiter("bench", rate=1e9, store=store)

    async def anoop() -> None:
        return None

    async def arun() -> float:
        await async_limiter.acall(anoop)
        return statistics.median(
            [await acalls_per_second(lambda: async_limiter.acall(anoop), seconds) for _ in range(3)]
        )

    print(f"  {'brace RateLimiter, asyncio (redis.asyncio)':48} {asyncio.run(arun()):9,.0f}")

    interval = 0.1
    made = breakers(server, interval)
    cases = {"memory": made["memory"], "redis": made["redis"]}

    def ok() -> None:
        return None

    for breaker in cases.values():
        breaker.call(ok)
    timings: dict[str, list[float]] = {label: [] for label in cases}
    number = 200_000
    server.client().config_resetstat()
    began = time.perf_counter()
    for _ in range(rounds):
        for label, breaker in cases.items():
            call = breaker.call
            start = time.perf_counter_ns()
            for _ in range(number):
                call(ok)
            timings[label].append((time.perf_counter_ns() - start) / number)
    elapsed = time.perf_counter() - began
    sent = commands_processed(server)
    scripts = sent.get("evalsha", 0) + sent.get("eval", 0)
    memory, shared = (statistics.median(timings[label]) for label in ("memory", "redis"))
    calls = rounds * number * 2
    print(f"\nCircuit breaker, success path, sync_interval={interval:g} s")
    print(f"  {'':48} {'ns/call':>9} {'vs memory':>9}")
    print(f"  {'CircuitBreaker (MemoryStore)':48} {memory:9.0f}")
    print(f"  {'CircuitBreaker (RedisStore)':48} {shared:9.0f} {shared / memory:8.2f}x")
    print(
        f"  Redis commands over {elapsed:.1f} s and {calls:,} calls: {scripts} scripts "
        f"({scripts / elapsed:.1f}/s for 1 breaker; bound 1/sync_interval = {1 / interval:g}/s), "
        f"{scripts / calls:.6f} per call"
    )
    made["store"].close()
    store.close()


if __name__ == "__main__":
    main()

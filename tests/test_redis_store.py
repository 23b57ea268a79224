"""RedisStore against a real redis-server in this process: keys, round trips, sharing, failures.

The fleet of separate processes is in test_redis_fleet.py; here several
stores on one server stand for several processes, which lets a test drive
their syncs (``store.sync()``) one by one.
"""

from __future__ import annotations

import asyncio
import re
import runpy
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import brace
from brace.testing import EventRecorder
from tests.redis_server import REAL, RedisServer, commands_processed, redis_server


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with redis_server() as started:
        yield started


Stores = Callable[..., Any]


@pytest.fixture
def stores(server: RedisServer) -> Iterator[Stores]:
    """``stores(n, **options)``: n stores on the server sharing a fresh prefix (n processes)."""
    from brace.store import RedisStore

    made: list[Any] = []
    prefix = f"t{uuid.uuid4().hex[:10]}"

    def make(n: int = 1, **options: Any) -> Any:
        options.setdefault("prefix", prefix)
        # These tests check what is shared; on a loaded CI machine a round trip can outlast
        # the 50 ms default and turn one into a test of the local fallback. The fault tests
        # pass the timeout they are about.
        options.setdefault("timeout", 2.0)
        new = [RedisStore.from_url(server.url, **options) for _ in range(n)]
        made.extend(new)
        return new[0] if n == 1 else new

    yield make
    for store in made:
        store.close()


def boom() -> None:
    raise ConnectionError("down")


async def answer() -> str:
    await REAL.asleep(0)
    return "ok"


def trip(breaker: brace.CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(boom)


def sync(*stores: Any) -> None:
    for _ in range(2):
        for store in stores:
            store.sync()


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"url": "redis://localhost", "client": "x"}, "exactly one"),
        ({"url": 42}, "url=42"),
        ({"url": "http://example.com"}, "url="),
        ({"client": object()}, "client="),
        ({"url": "redis://localhost", "prefix": ""}, "prefix"),
        ({"url": "redis://localhost", "prefix": "a{b}"}, "prefix"),
        ({"url": "redis://localhost", "sync_interval": 0}, "sync_interval"),
        ({"url": "redis://localhost", "timeout": -1}, "timeout"),
        ({"url": "redis://localhost", "lease_ttl": 0.5}, "lease_ttl"),
    ],
)
def test_bad_store_settings_are_config_errors(kwargs: dict[str, Any], match: str) -> None:
    pytest.importorskip("redis")
    from brace.store import RedisStore

    with pytest.raises(brace.ConfigError, match=match):
        RedisStore(**kwargs)


def test_a_store_takes_its_settings_from_a_client_and_opens_its_own_connections(
    server: RedisServer, stores: Stores
) -> None:
    from brace.store import RedisStore

    client = server.client(socket_timeout=30)
    prefix = f"c{uuid.uuid4().hex[:8]}"
    by_client = RedisStore(client, prefix=prefix, timeout=0.02)
    by_url = stores(prefix=prefix)
    try:
        assert by_client.timeout == 0.02
        own = by_client._link._client()  # a connection of the store's own
        assert own.socket_timeout == own.socket_connect_timeout == 0.02
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 30  # untouched
        assert "127.0.0.1" in repr(by_client)
        limiters = [
            brace.RateLimiter("api", rate=1, per=60, burst=1, store=s) for s in (by_client, by_url)
        ]
        limiters[0].call(lambda: None)
        with pytest.raises(brace.RateLimitedError):
            limiters[1].call(lambda: None)
    finally:
        by_client.close()


def test_store_without_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import brace.store

    for module in [name for name in sys.modules if name.startswith("brace.store._redis")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"brace\[redis\]"):
        brace.store.RedisStore  # noqa: B018 - the attribute access is the import


# -- keys ------------------------------------------------------------------------------------


def test_keys_are_namespaced_hash_tagged_plain_and_expire(
    server: RedisServer, stores: Stores
) -> None:
    store = stores()
    breaker = brace.CircuitBreaker("pay:ments {eu}", consecutive_failures=1, store=store)
    limiter = brace.RateLimiter("pay:ments {eu}", rate=10, store=store)
    budget = brace.RetryBudget(name="pay:ments {eu}", store=store)
    bulkhead = brace.Bulkhead("pay:ments {eu}", max_concurrent=2, store=store)
    trip(breaker)
    limiter.call(lambda: None)
    budget.deposit()
    budget.try_withdraw()
    bulkhead.call(lambda: None)
    store.sync()
    client = server.client()
    keys = sorted(client.keys(f"{store.prefix}:*"))
    tag = "{pay%3Aments%20%7Beu%7D}"
    kinds = {key.removeprefix(f"{store.prefix}:{tag}:") for key in keys}
    assert {"breaker", "rate", "budget", "budget-processes"} <= kinds  # an idle bulkhead: none
    assert kinds <= {"breaker", "window", "trials", "rate", "budget", "budget-processes"}
    for key in keys:
        assert 0 < client.pttl(key) <= 24 * 3600 * 1000, key
        dump = client.dump(key)
        assert b"\x80\x04" not in (dump or b""), f"{key} looks pickled"


def test_an_idle_rate_limit_leaves_nothing_behind(server: RedisServer, stores: Stores) -> None:
    store = stores()
    brace.RateLimiter("api", rate=1000, store=store).call(lambda: None)
    assert server.client().pttl(store.key("api", "rate")) <= 3  # ms: the bucket is full again


# -- round trips ----------------------------------------------------------------------------


def test_a_rate_limited_call_is_one_round_trip(server: RedisServer, stores: Stores) -> None:
    store = stores()
    limiter = brace.RateLimiter("api", rate=1e6, store=store)
    limiter.call(lambda: None)  # loads the script
    client = server.client()
    client.config_resetstat()
    for _ in range(200):
        limiter.call(lambda: None)
    stats = commands_processed(server)
    assert stats.get("evalsha") == 200  # one script per call (its own commands count too:)
    assert stats.get("time") == stats.get("get") == 200
    assert "eval" not in stats


async def test_an_async_rate_limited_call_awaits_redis_without_blocking_the_loop(
    server: RedisServer, stores: Stores
) -> None:
    store = stores(timeout=0.2)
    limiter = brace.RateLimiter("api", rate=1e6, store=store)
    await limiter.acall(REAL.asleep, 0)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await REAL.asleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    server.client().execute_command("CLIENT", "PAUSE", "150", "WRITE")
    start = REAL.monotonic()
    await limiter.acall(REAL.asleep, 0)  # waits for Redis (up to 0.2 s), the loop runs on
    took = REAL.monotonic() - start
    task.cancel()
    assert 0.1 < took < 0.35
    assert ticks >= 10


def test_a_breaker_success_makes_no_round_trip(server: RedisServer, stores: Stores) -> None:
    store = stores(sync_interval=1.0, lease_ttl=10.0)
    breaker = brace.CircuitBreaker("svc", store=store)
    breaker.call(lambda: None)
    store.sync()
    client = server.client()
    client.config_resetstat()
    for _ in range(2000):
        breaker.call(lambda: None)
    assert commands_processed(server).get("evalsha", 0) <= 2  # the background sync, if it ran


# -- breakers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window", [brace.CountWindow(10), brace.TimeWindow(10)], ids=["count", "time"]
)
def test_the_fleet_trips_on_counts_no_process_saw_enough_of(
    stores: Stores, window: brace.CountWindow | brace.TimeWindow
) -> None:
    one, two = stores(2)
    breakers = [
        brace.CircuitBreaker(
            "svc", failure_rate=0.5, minimum_calls=10, window=window, open_for=60, store=store
        )
        for store in (one, two)
    ]
    recorder = EventRecorder()
    breakers[1].listen(recorder)
    for breaker in breakers:
        trip(breaker, 3)
        breaker.call(lambda: None)
        breaker.call(lambda: None)
        assert breaker.state is brace.State.CLOSED  # 5 calls here: below minimum_calls
    sync(one, two)
    assert [b.state for b in breakers] == [brace.State.OPEN] * 2
    (changed,) = recorder.of(brace.StateChanged)
    assert (changed.old, changed.new) == ("CLOSED", "OPEN")
    assert changed.reason == "failure rate 60% >= 50% over 10 calls (shared state)"


def one_trial_breakers(*stores: Any, open_for: Any = 0.05) -> list[brace.CircuitBreaker]:
    """A breaker named "svc" on each store: trips on one failure, then one trial at a time."""
    return [
        brace.CircuitBreaker(
            "svc", consecutive_failures=1, open_for=open_for, half_open_calls=1, store=store
        )
        for store in stores
    ]


class _SyncDuringLease:
    """A cell's link that, once the lease's script has run, has another thread sync the store."""

    def __init__(self, link: Any, store: Any) -> None:
        self.link, self.store = link, store
        self.sync_ended_inside = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.link, name)

    def run(self, script: Any, keys: list[str], args: list[str], name: str) -> Any:
        shared = self.link.run(script, keys, args, name)
        if '"op": "lease"' in args[0]:
            syncing = threading.Thread(target=self.store.sync)
            syncing.start()
            syncing.join(timeout=0.3)  # a sync that can interleave ends well within this
            self.sync_ended_inside = not syncing.is_alive()
        return shared


# "sync beside the lease": the lease makes the shared OPEN -> HALF_OPEN move; a sync answered
# before the lease's answer was applied used to replace the trial's phase by that same move,
# so the failed trial counted nowhere and the other process closed the breaker on its own.
@pytest.mark.parametrize("beside", [False, True], ids=["plain", "sync beside the lease"])
def test_the_trip_count_and_open_for_schedule_are_shared(stores: Stores, beside: bool) -> None:
    one, two = stores(2)
    breakers = one_trial_breakers(one, two, open_for=[0.05, 30.0])
    trip(breakers[0])
    sync(one, two)
    REAL.sleep(0.1)
    cell: Any = breakers[1]._machine.cell  # a RedisBreakerCell
    spy = _SyncDuringLease(cell._link, two)
    if beside:
        cell._link = spy
    trip(breakers[1])  # the failed trial re-opens: the fleet's second trip
    cell._link = spy.link
    assert not spy.sync_ended_inside  # a sync waits for the lease to be applied
    sync(two, one)
    assert [b.state for b in breakers] == [brace.State.OPEN] * 2
    with pytest.raises(brace.CircuitOpenError) as caught:
        breakers[0].call(lambda: None)
    assert caught.value.retry_after is not None
    assert 25 < caught.value.retry_after <= 30


def test_a_listener_of_a_sync_may_call_the_breaker(stores: Stores) -> None:
    # The sync delivers the fleet's HALF_OPEN to this listener; its call asks for a lease, which
    # waits for no sync of its own store in progress: it is that sync's thread.
    one, two = stores(2, sync_interval=60.0, lease_ttl=600.0)
    first, second = one_trial_breakers(one, two)
    seen: list[str] = []

    def call_it(event: brace.Event) -> None:
        if isinstance(event, brace.StateChanged) and event.new == "HALF_OPEN":
            try:
                second.call(lambda: None)
            except brace.CircuitOpenError as exc:
                seen.append(str(exc))

    second.listen(call_it)
    trip(first)
    sync(one, two)
    REAL.sleep(0.1)
    permit = first.acquire()  # the fleet's only trial, leased and held
    syncing = threading.Thread(target=two.sync, daemon=True)
    syncing.start()
    syncing.join(timeout=5)
    assert not syncing.is_alive()  # else deadlocked
    assert len(seen) == 1
    assert "every trial slot taken" in seen[0]
    permit.cancel()


def test_a_trial_lease_frees_itself_when_its_holder_stops_renewing(stores: Stores) -> None:
    one, two = stores(2, sync_interval=0.02, lease_ttl=0.3)
    first, second = one_trial_breakers(one, two)
    trip(first)
    sync(one, two)
    REAL.sleep(0.1)
    first.acquire()  # a trial that never reports: its process "died"
    one.close()  # no more renewals
    with pytest.raises(brace.CircuitOpenError):
        second.acquire()
    REAL.sleep(0.35)
    second.acquire().success()
    two.sync()
    assert second.state is brace.State.CLOSED


def test_a_breaker_re_joins_a_restarted_server_with_its_own_state(
    server: RedisServer, stores: Stores
) -> None:
    one, two = stores(2)
    first, second = (
        brace.CircuitBreaker("svc", consecutive_failures=1, open_for=60, store=store)
        for store in (one, two)
    )
    trip(first)
    sync(one, two)
    server.client().flushall()  # what a restart without persistence leaves
    sync(two, one)
    assert server.client().hget(one.key("svc", "breaker"), "state") == "OPEN"
    assert [first.state, second.state] == [brace.State.OPEN] * 2


# -- retry budgets -------------------------------------------------------------------------------


@pytest.mark.parametrize("staggered", [False, True], ids=["aligned", "staggered"])
def test_a_fleet_of_budgets_never_spends_more_than_the_ratio_allows(
    stores: Stores, staggered: bool
) -> None:
    fleet = stores(4, sync_interval=60.0, lease_ttl=600.0)  # this test drives every sync
    budgets = [
        brace.RetryBudget(ratio=0.1, min_per_second=0.5, window=60, name="b", store=store)
        for store in fleet
    ]
    allowed = 0.1 * 4 * 200 + 0.5 * 60  # ratio * first attempts + min_per_second * window
    taken = 0
    for round_ in range(8):
        for index, (store, budget) in enumerate(zip(fleet, budgets, strict=True)):
            for _ in range(25):
                budget.deposit()
            while budget.try_withdraw():
                taken += 1
            if not staggered or (round_ + index) % 2:
                store.sync()
    sync(*fleet)
    assert taken <= allowed
    assert taken >= allowed - 4  # the fleet got (nearly) all of it: claims are whole retries


# -- bulkheads -----------------------------------------------------------------------------------


def test_fleet_bulkhead_waiters_are_served_first_come_first_served(stores: Stores) -> None:
    one, two = stores(2)
    bulkheads = [
        brace.Bulkhead("db", max_concurrent=1, max_queue=3, max_wait=5.0, store=store)
        for store in (one, two)
    ]
    release = threading.Event()
    order: list[str] = []
    holder = threading.Thread(target=bulkheads[0].call, args=(release.wait,))
    holder.start()
    while bulkheads[0].metrics().in_flight != 1:
        REAL.sleep(0.005)
    waiters = []
    for index, label in enumerate("abc"):
        bulkhead = bulkheads[(index + 1) % 2]
        waiter = threading.Thread(target=bulkhead.call, args=(lambda x=label: order.append(x),))
        waiter.start()
        waiters.append(waiter)
        while sum(b.metrics().queued for b in bulkheads) != index + 1:
            REAL.sleep(0.005)
    with pytest.raises(brace.BulkheadFullError, match="3 of 3 queued"):
        bulkheads[1].call(lambda: None)
    release.set()
    for thread in [holder, *waiters]:
        thread.join(timeout=5)
    assert order == ["a", "b", "c"]


async def test_a_fleet_bulkhead_wait_ends_at_max_wait_or_the_deadline(stores: Stores) -> None:
    store = stores()
    bulkhead = brace.Bulkhead("db", max_concurrent=1, max_queue=2, max_wait=0.15, store=store)
    release = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    holder = asyncio.create_task(bulkhead.acall(hold))
    await REAL.asleep(0.05)
    start = REAL.monotonic()
    with pytest.raises(brace.BulkheadFullError):
        await bulkhead.acall(REAL.asleep, 0)
    assert 0.14 < REAL.monotonic() - start < 0.4
    with brace.deadline(0.05), pytest.raises(brace.TimeoutExceededError):
        await bulkhead.acall(REAL.asleep, 0)
    release.set()
    await holder
    assert await bulkhead.acall(answer) == "ok"
    assert bulkhead.metrics().rejected == 1  # the deadline's expiry is a timeout, not a rejection


# -- Redis in trouble ------------------------------------------------------------------------


def _everything(store: Any) -> dict[str, Any]:
    return {
        "breaker": brace.CircuitBreaker("svc", consecutive_failures=3, store=store),
        "limiter": brace.RateLimiter("svc", rate=1e6, store=store),
        "budget": brace.RetryBudget(name="svc", store=store),
        "bulkhead": brace.Bulkhead("svc", max_concurrent=4, store=store),
    }


def _call_each(policies: dict[str, Any]) -> list[object]:
    pipeline = brace.pipeline(policies["breaker"], policies["limiter"], policies["bulkhead"])
    policies["budget"].deposit()
    return [pipeline.call(lambda: "ok"), policies["budget"].try_withdraw()]


def _reported(recorder: EventRecorder, kind: type[Any]) -> list[Any]:
    """The events of ``kind``, once there is one: the store's sync thread may be the one that
    met the failure, and it delivers its event just after writing its log line."""
    until = REAL.monotonic() + 5
    while not recorder.of(kind) and REAL.monotonic() < until:
        REAL.sleep(0.01)
    return recorder.of(kind)


def test_a_killed_server_fails_no_call_and_sharing_resumes_after_restart() -> None:
    from brace.store import RedisStore

    with redis_server() as server:
        # A killed server refuses at once; the generous timeout keeps a slow round trip on a
        # loaded machine from passing for a second outage once it is back.
        store, other = (
            RedisStore.from_url(server.url, sync_interval=0.05, lease_ttl=1.0, timeout=1.0)
            for _ in range(2)
        )
        recorder = EventRecorder()
        store.listen(recorder)
        policies = _everything(store)
        assert _call_each(policies) == ["ok", True]
        server.kill()
        start = REAL.monotonic()
        for _ in range(50):
            assert _call_each(policies) == ["ok", True]
        assert REAL.monotonic() - start < 0.5  # local decisions: no waiting on a dead server
        (down,) = _reported(recorder, brace.StoreUnavailable)
        assert down.error.startswith("ConnectionError")
        assert not store.available
        server.restart()
        deadline = REAL.monotonic() + 8
        while not recorder.of(brace.StoreRecovered) and REAL.monotonic() < deadline:
            _call_each(policies)
            REAL.sleep(0.02)
        (up,) = recorder.of(brace.StoreRecovered)
        assert up.outage > 0
        shared = brace.CircuitBreaker("svc", consecutive_failures=3, store=other)
        trip(policies["breaker"], 3)
        sync(store, other)
        assert shared.state is brace.State.OPEN  # sharing resumed
        store.close()
        other.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_store_idle_through_a_restart_is_not_taken_for_an_outage(mode: str) -> None:
    # Its connection is from before the restart: the first operation finds it broken, and a
    # new connection answers. Redis is there, so nothing is reported and nothing runs locally.
    from brace.store import RedisStore

    with redis_server() as server:
        store = RedisStore.from_url(server.url, timeout=1.0)
        recorder = EventRecorder()
        store.listen(recorder)
        limiter = brace.RateLimiter("api", rate=1, per=60, burst=1, store=store)

        def noop() -> None:
            return None

        async def anoop() -> None:
            return None

        async def calls() -> None:
            await limiter.acall(anoop)
            server.kill()
            server.restart()  # empty: the limit starts afresh, the script is loaded again
            await limiter.acall(anoop)
            with pytest.raises(brace.RateLimitedError):
                await limiter.acall(anoop)  # the limit holds

        if mode == "async":
            asyncio.run(calls())
        else:
            limiter.call(noop)
            server.kill()
            server.restart()
            limiter.call(noop)
            with pytest.raises(brace.RateLimitedError):
                limiter.call(noop)
        assert recorder.events == []
        assert store.available
        store.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_paused_server_delays_no_call_past_the_timeout(
    server: RedisServer, stores: Stores, mode: str
) -> None:
    store = stores(timeout=0.05)
    policies = _everything(store)
    _call_each(policies)
    pipeline = brace.pipeline(policies["breaker"], policies["limiter"], policies["bulkhead"])
    server.client().execute_command("CLIENT", "PAUSE", "400")
    took = []
    try:
        for _ in range(3):
            start = REAL.monotonic()
            if mode == "sync":
                assert pipeline.call(lambda: "ok") == "ok"
            else:
                assert asyncio.run(pipeline.acall(answer)) == "ok"
            took.append(REAL.monotonic() - start)
    finally:
        server.client().execute_command("CLIENT", "UNPAUSE")
    assert max(took) < 0.05 + 0.06  # one operation timed out; the rest ran locally at once


@pytest.mark.parametrize(
    "refusal",
    [
        ("CONFIG", "SET", "maxmemory", "1"),  # OOM: the scripts write
        ("REPLICAOF", "127.0.0.1", "1"),  # a read-only replica
    ],
    ids=["oom", "readonly"],
)
def test_a_server_that_refuses_fails_no_call(
    server: RedisServer, stores: Stores, refusal: tuple[str, ...]
) -> None:
    store = stores()
    recorder = EventRecorder()
    store.listen(recorder)
    policies = _everything(store)
    client = server.client()
    client.execute_command(*refusal)
    try:
        for _ in range(5):
            assert _call_each(policies) == ["ok", True]
    finally:
        client.execute_command("CONFIG", "SET", "maxmemory", "0")
        client.execute_command("REPLICAOF", "NO", "ONE")
    # A probe that gets through (another policy's keys are fine) re-joins, and the next
    # refusal leaves again: on a slow machine that can happen within the loop.
    downs = _reported(recorder, brace.StoreUnavailable)
    assert downs
    for down in downs:
        assert re.search(r"maxmemory|READONLY|read only", down.error), down.error


# -- the guide's promises --------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "many-processes.md"


def test_the_guides_acl_user_is_enough_and_bad_credentials_fail_no_call(
    server: RedisServer,
) -> None:
    from brace.store import RedisStore

    (line,) = [row for row in GUIDE.read_text().splitlines() if row.startswith("ACL SETUSER")]
    words = line.split()
    user, password = words[2], words[4].removeprefix(">")
    server.client().execute_command(*words)
    authorised = server.url.replace("redis://", f"redis://{user}:{password}@")
    wrong = server.url.replace("redis://", f"redis://{user}:wrong@")
    for url, works in ((authorised, True), (wrong, False)):
        store = RedisStore.from_url(url, prefix="brace", timeout=2.0)  # see `stores`
        recorder = EventRecorder()
        store.listen(recorder)
        try:
            assert _call_each(_everything(store)) == ["ok", True]
            trip(brace.CircuitBreaker("tripped", consecutive_failures=1, store=store))
            store.sync()
            assert store.available is works
            if not works:
                _reported(recorder, brace.StoreUnavailable)
            assert [type(e).__name__ for e in recorder.events] == (
                [] if works else ["StoreUnavailable"]
            )
        finally:
            store.close()


def test_the_guides_example_shares_a_quota_and_a_trip(server: RedisServer) -> None:
    namespace = runpy.run_path(str(GUIDE.parent / "examples" / "many_processes.py"))
    assert namespace["main"](server.url) == {
        "admitted": 10,
        "second worker's breaker": "open, retry after 30 s",
    }


# -- hostile surroundings -----------------------------------------------------------------


def test_foreign_values_in_the_stores_keys_fail_no_call(
    server: RedisServer, stores: Stores
) -> None:
    store = stores()
    recorder = EventRecorder()
    store.listen(recorder)
    client = server.client()
    client.hset(store.key("svc", "rate"), "not", "a tat")  # WRONGTYPE for the rate script
    client.set(store.key("svc", "breaker"), "garbage")  # WRONGTYPE for the breaker script
    client.set(store.key("svc", "bulkhead"), "garbage")
    policies = _everything(store)
    for _ in range(3):
        assert _call_each(policies) == ["ok", True]
    store.sync()
    downs = _reported(recorder, brace.StoreUnavailable)  # one or more: see the refusal test
    assert downs
    assert all("WRONGTYPE" in down.error for down in downs), downs


def test_a_server_that_is_not_redis_fails_no_call() -> None:
    import socket

    from brace.store import RedisStore

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.02)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def answer_nonsense() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=answer_nonsense, daemon=True)
    thread.start()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0")
    recorder = EventRecorder()
    store.listen(recorder)
    try:
        policies = _everything(store)
        start = REAL.monotonic()
        for _ in range(5):
            assert _call_each(policies) == ["ok", True]
        assert REAL.monotonic() - start < 0.5
        _reported(recorder, brace.StoreUnavailable)
        assert [type(e).__name__ for e in recorder.events] == ["StoreUnavailable"]
    finally:
        store.close()
        stop.set()
        thread.join(timeout=2)
        listener.close()

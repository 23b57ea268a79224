"""A `RedisStore`'s link to Redis: scripts, time bounds, and a circuit breaker around it all.

Every store operation is one Lua script (`Script`), run through `Link.run`
(sync) or `Link.arun` (asyncio), which never raise: an answer, or
`UNAVAILABLE` when Redis failed (down, slow past ``timeout``, refusing with
OOM, READONLY, NOAUTH, ...) or the link is open. The caller then decides on
its local state. Brace's own medicine guards the link: a `CircuitBreaker`
that opens on the first failure, so that while Redis is away no call waits
on it, and lets one trial operation through after a backoff (exponential
with full jitter, from 0.05 s up to 1 s) to find it back. Its transitions become the
`StoreUnavailable` and `StoreRecovered` events.

Async operations use one client per event loop (redis-py's asyncio
connections belong to the loop that opened them), closed when that loop shuts
down its async generators (as ``asyncio.run`` does) or with the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any, Final

import redis.asyncio
import redis.exceptions

from brace._backoff import Backoff
from brace._breaker import CircuitBreaker, Permit
from brace._clock import SYSTEM_CLOCK
from brace._deadline import _CURRENT
from brace._errors import CircuitOpenError
from brace._events import Listeners, StoreRecovered, StoreUnavailable
from brace._telemetry import Telemetry, notable
from brace._unasync import sync_twin
from brace.store._redis_clients import BLOCK_LATE, Settings

__all__ = ["UNAVAILABLE", "Link", "Script", "after_fork"]


class _Unavailable:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __bool__(self) -> bool:
        return False


#: What `Link.run` returns when Redis did not answer: decide on local state.
UNAVAILABLE: Final = _Unavailable()


def _pack(*parts: str | bytes) -> bytes:
    """A command in Redis's protocol (RESP), ready to send."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Script:
    """One Lua script from ``brace/store/lua/``, run by its SHA1 (loaded on first use).

    The asyncio path goes through ``redis.asyncio``; the sync path writes the
    command itself on a redis-py connection (`Link` lends one) and reads the
    reply with redis-py's parser: redis-py's client layer costs more than the
    round trip on a local network. A call's packed command is cached, since a
    policy sends the same arguments again and again.
    """

    __slots__ = ("_packed", "name", "parse", "sha", "source")

    def __init__(self, name: str, parse: Callable[[Any], Any] = lambda reply: reply) -> None:
        self.name = name
        #: Turns the reply into the answer; a reply it cannot read is a store failure too.
        self.parse = parse
        self.source = resources.files("brace.store").joinpath(f"lua/{name}.lua").read_text()
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        self._packed: dict[tuple[object, ...], bytes] = {}

    async def arun(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        """Run on an asyncio ``client``: EVALSHA, or EVAL once when the server lacks it."""
        try:
            reply = await client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # a new or restarted server: one EVAL caches it
            reply = await client.execute_command("EVAL", self.source, len(keys), *keys, *args)
        return self.parse(reply)

    def run(self, connection: Any, keys: list[str], args: list[Any]) -> Any:
        """Run on a sync redis-py ``connection``, as `arun` does."""
        key = (*keys, *args)
        packed = self._packed.get(key)
        if packed is None:
            if len(self._packed) > 1024:
                self._packed.clear()  # arguments that keep changing (deadlines): no cache
            packed = self._packed[key] = _pack("EVALSHA", self.sha, *_words(keys, args))
        # The connection's retry (see `_redis_clients`) tries a broken one once more, anew.
        reply = connection.retry.call_with_retry(
            lambda: self._exchange(connection, packed, keys, args), connection.disconnect
        )
        return self.parse(reply)

    def _exchange(self, connection: Any, packed: bytes, keys: list[str], args: list[Any]) -> Any:
        """Send ``packed`` (EVALSHA) and read the reply; EVAL once if the server lacks it."""
        connection.send_packed_command([packed], check_health=False)
        try:
            return connection.read_response()
        except redis.exceptions.NoScriptError:
            eval_ = _pack("EVAL", self.source, *_words(keys, args))
            connection.send_packed_command([eval_], check_health=False)
            return connection.read_response()

    def __repr__(self) -> str:
        return f"<brace Lua script {self.name}>"


def _words(keys: list[str], args: list[Any]) -> list[str]:
    """A script's key count, keys and arguments as Redis reads them (floats exactly)."""
    words = [repr(arg) if isinstance(arg, float) else str(arg) for arg in args]
    return [str(len(keys)), *keys, *words]


class _Lent:
    """A connection lent for one operation: back to the idle list, or closed on any error."""

    __slots__ = ("connection", "idle")

    def __init__(self, connection: Any, idle: list[Any]) -> None:
        self.connection = connection
        self.idle = idle

    def __enter__(self) -> Any:
        return self.connection

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        if kind is None:
            self.idle.append(self.connection)  # list.append: atomic, no lock
        else:  # a half-read reply (timeout, Ctrl-C) would answer the next command
            with contextlib.suppress(Exception):
                self.connection.disconnect()


class _LoopClients:
    """The asyncio clients of one event loop, closed with it."""

    __slots__ = ("blocking", "client", "closer")

    def __init__(self, settings: Settings) -> None:
        self.client = settings.async_client()
        self.blocking = settings.async_client(blocking=True)
        self.closer: Any = None

    async def aclose(self) -> None:
        for client in (self.client, self.blocking):
            with contextlib.suppress(Exception):  # the pool is ours: the client would not close it
                await client.connection_pool.disconnect()


async def _close_with_loop(clients: _LoopClients) -> AsyncIterator[None]:
    """An async generator the loop finalizes at shutdown (``shutdown_asyncgens``): it closes."""
    try:
        yield
    finally:
        await clients.aclose()


def after_fork(owner: Any) -> None:
    """Call ``owner._forked()`` in every forked child while ``owner`` lives (held weakly)."""
    ref = weakref.ref(owner)

    def forked() -> None:
        alive = ref()
        if alive is not None:
            alive._forked()

    os.register_at_fork(after_in_child=forked)


class Link:
    """The connection of one store to Redis, with the breaker that guards it.

    Args:
        settings: Where Redis is and how long an operation may take.
        listeners: The store's listeners (store events also go to the global ones).
    """

    def __init__(self, settings: Settings, listeners: Listeners) -> None:
        self.settings = settings
        self.timeout = settings.timeout
        self.description = settings.description
        self._listeners = listeners
        self._lock = threading.Lock()
        self._idle: list[Any] = []  # sync connections between operations
        self._blocking: Any = None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
            weakref.WeakKeyDictionary()
        )
        self.up = True  # False from a failure until an operation succeeds again
        self._down_since = 0.0
        self.health = CircuitBreaker(  # unnamed: not listed in brace.policies()
            consecutive_failures=1,
            open_for=Backoff.exponential(initial=0.05, multiplier=2.0, max_delay=1.0),
            half_open_calls=1,
        )
        # Its transitions are reported as StoreUnavailable / StoreRecovered, not StateChanged.
        quiet = Telemetry(self.health, listed=False, quiet=True)
        self.health._listeners = self.health._machine._listeners = quiet
        self._admit = self.health.acquire
        after_fork(self)

    def _acquire(self) -> Permit:
        """A permit from the link's breaker, whatever deadline the caller is under.

        A store operation is bounded by ``timeout`` alone: giving back a permit
        or leaving a queue must happen even after the caller's deadline passed.
        """
        token = _CURRENT.set(None)
        try:
            return self._admit()
        finally:
            _CURRENT.reset(token)

    def _forked(self) -> None:
        """In a forked child: the parent's connections and loops are not ours (left untouched)."""
        self._idle = []
        self._blocking = None
        self._loops = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the last operation reached Redis."""
        return self.up

    # -- clients --------------------------------------------------------------------------

    def _client(self) -> Any:
        """An idle sync connection (made when none is idle); `_bound` returns it."""
        try:
            return self._idle.pop()  # list.pop: atomic, no lock
        except IndexError:
            return self.settings.connection()

    def _blocking_client(self) -> Any:
        client = self._blocking
        if client is None:
            with self._lock:
                if self._blocking is None:
                    self._blocking = self.settings.sync_client(blocking=True)
                client = self._blocking
        return client

    async def _loop_clients(self) -> _LoopClients:
        loop = asyncio.get_running_loop()
        clients = self._loops.get(loop)
        if clients is None:
            clients = self._loops[loop] = _LoopClients(self.settings)
            clients.closer = _close_with_loop(clients)
            await clients.closer.__anext__()  # registered with the loop: closed at its shutdown
        return clients

    async def _aclient(self) -> Any:
        return (await self._loop_clients()).client

    async def _ablocking_client(self) -> Any:
        return (await self._loop_clients()).blocking

    def _abound(self, client: Any) -> Any:  # noqa: ARG002 - the sync twin's shape
        return asyncio.timeout(self.timeout)

    def _bound(self, connection: Any) -> _Lent:
        # A sync operation is bounded by its socket timeouts (connect and read: `timeout`).
        return _Lent(connection, self._idle)

    # -- operations -----------------------------------------------------------------------

    async def arun(self, script: Script, keys: list[str], args: list[Any], policy: str) -> Any:
        """``script``'s answer, or `UNAVAILABLE`; never raises an `Exception`, never waits long.

        ``policy`` names the policy asking, for the store events.
        """
        try:
            permit = self._acquire()
        except CircuitOpenError:
            return UNAVAILABLE
        try:
            client = await self._aclient()
            async with self._abound(client):
                result = await script.arun(client, keys, args)
        except Exception as exc:
            permit.failure(exc)
            self._down(exc, policy)
            return UNAVAILABLE
        except BaseException:
            permit.cancel()
            raise
        permit.success()
        if not self.up:
            self._recovered(policy)
        return result

    run = sync_twin(arun, "run", arun="run", _aclient="_client", _abound="_bound")

    async def apop(self, key: str, seconds: float, policy: str) -> Any:
        """BLPOP ``key`` for up to ``seconds`` (at most one `BLOCK_SLICE`).

        Returns the value popped, None when the time ran out, or `UNAVAILABLE`.
        """
        if not self.available:
            return UNAVAILABLE
        try:
            client = await self._ablocking_client()
            async with asyncio.timeout(seconds + self.timeout + BLOCK_LATE):
                reply = await client.blpop([key], timeout=max(seconds, 0.001))
        except Exception as exc:
            self._note_failure(exc, policy)
            return UNAVAILABLE
        return None if reply is None else reply[1]

    def pop(self, key: str, seconds: float, policy: str) -> Any:
        """The sync `apop`: bounded by the blocking pool's read timeout."""
        if not self.available:
            return UNAVAILABLE
        try:
            reply = self._blocking_client().blpop([key], timeout=max(seconds, 0.001))
        except Exception as exc:
            self._note_failure(exc, policy)
            return UNAVAILABLE
        return None if reply is None else reply[1]

    # -- health ---------------------------------------------------------------------------

    def _note_failure(self, exc: BaseException, policy: str) -> None:
        """A failure outside `run` (a blocking wait) counts as one failed operation."""
        with contextlib.suppress(CircuitOpenError):
            self._acquire().failure(exc)
        self._down(exc, policy)

    def _down(self, exc: BaseException, policy: str) -> None:
        with self._lock:
            if not self.up:
                return
            self.up = False
            self._down_since = SYSTEM_CLOCK.monotonic()
        # notable(): logged (WARNING) whether or not anyone listens, then delivered.
        notable(
            self._listeners,
            StoreUnavailable(policy, self.description, f"{type(exc).__name__}: {exc}"),
        )

    def _recovered(self, policy: str) -> None:
        with self._lock:
            if self.up:
                return
            self.up = True
            outage = SYSTEM_CLOCK.monotonic() - self._down_since
        notable(self._listeners, StoreRecovered(policy, self.description, outage))

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync connections (asyncio ones close with their loop, or `aclose`)."""
        idle, self._idle = self._idle, []
        with self._lock:
            blocking, self._blocking = self._blocking, None
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.disconnect()
        if blocking is not None:
            with contextlib.suppress(Exception):
                blocking.connection_pool.disconnect()

    async def aclose(self) -> None:
        """Close the running loop's connections, and the sync ones."""
        clients = self._loops.pop(asyncio.get_running_loop(), None)
        if clients is not None:
            await clients.aclose()
        self.close()

"""One run's live state: a modelled dependency and the caller's worker pool, on a virtual loop.

A call that reaches a `LiveService` is an *attempt*. It starts service at
once if a server is free, waits in the FIFO queue otherwise, or is refused
if a bounded queue is full. Service takes a latency sample (times the
brownout factor) and then succeeds or fails with the error rate in force
when it started. A success answers with the `Request` itself.

The server never learns that a client gave up: an attempt abandoned by a
timeout keeps its place in the queue and its server until its service time
is over. That is what lets retries pile doomed work onto an overloaded
dependency and keep it overloaded after the trigger has gone.

`WorkerPool` is the calling service's own pool of workers (threads, in the
service being modelled): a request holds one for its whole life, retries
and waits included, and waits in FIFO order for one when all are busy.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from brace.sim._model import (
    Brownout,
    DependencyError,
    ErrorBurst,
    Outage,
    OverloadedError,
    Request,
    Service,
)

__all__ = ["LiveService", "WorkerPool"]


@dataclass(frozen=True, slots=True)
class _Conditions:
    servers: int
    error_rate: float
    latency_factor: float
    down: bool
    hang: bool


def _conditions_at(service: Service, t: float) -> _Conditions:
    servers, error_rate, factor, down, hang = service.servers, service.error_rate, 1.0, False, False
    for inc in service.incidents:
        if not inc.at <= t < inc.at + inc.duration:
            continue
        if isinstance(inc, Outage):
            down, hang = True, hang or inc.hang
        elif isinstance(inc, Brownout):
            factor *= inc.latency_factor
        elif isinstance(inc, ErrorBurst):
            error_rate = max(error_rate, inc.rate)
        else:
            servers = min(servers, inc.servers)
    return _Conditions(servers, error_rate, factor, down, hang)


def _refused() -> DependencyError:
    return DependencyError("connection refused: the dependency is down")


class LiveService:
    """One run's live state of a `Service` on a virtual event loop.

    ``call`` is the protected function the strategies wrap. Incidents switch
    the conditions at their boundaries through loop timers, so an attempt
    pays nothing to learn what is in force.
    """

    def __init__(
        self,
        service: Service,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        on_attempt: Callable[[float], None],
    ) -> None:
        self._loop = loop
        self._rng = rng.random
        self._sample = service.latency.sampler(rng)
        self._limit = math.inf if service.queue is None else service.queue
        self._on_attempt = on_attempt
        # Waiting attempts with the time they joined the queue.
        self._queue: deque[tuple[asyncio.Future[None], float]] = deque()
        self.busy = 0
        #: Attempts that started service so far, and the seconds they waited in the queue.
        self.started = 0
        self.waited = 0.0
        self._busy_since = loop.time()
        self._busy_area = 0.0
        self._apply(_conditions_at(service, loop.time()))
        edges = sorted({t for i in service.incidents for t in (i.at, i.at + i.duration)})
        for edge in edges[bisect.bisect_right(edges, loop.time()) :]:
            loop.call_at(edge, self._apply, _conditions_at(service, edge))

    def _apply(self, conditions: _Conditions) -> None:
        self.servers = conditions.servers
        self._error_rate = conditions.error_rate
        self._factor = conditions.latency_factor
        self._down = conditions.down
        self._hang = conditions.hang
        self._drain()

    @property
    def queued(self) -> int:
        """Attempts waiting for a server, including ones their client has abandoned."""
        return len(self._queue)

    def busy_seconds(self) -> float:
        """Server-seconds of work done so far (for utilisation)."""
        return self._busy_area + self.busy * (self._loop.time() - self._busy_since)

    async def call(self, request: Request) -> Request:
        """One attempt: answers ``request`` itself, or raises `DependencyError` on failure."""
        loop = self._loop
        self._on_attempt(loop.time())
        if self._down:
            if self._hang:
                await loop.create_future()
            raise _refused()
        done = loop.create_future()
        if self.busy < self.servers:
            self._start(done)
        elif len(self._queue) < self._limit:
            self._queue.append((done, loop.time()))
        else:
            raise OverloadedError("the dependency's queue is full")
        await done
        return request

    # The busy-seconds integral is updated inline in _start and _finish: they run per attempt.

    def _start(self, done: asyncio.Future[None]) -> None:
        loop = self._loop
        now = loop.time()
        busy = self.busy
        self._busy_area += busy * (now - self._busy_since)
        self._busy_since = now
        self.busy = busy + 1
        self.started += 1
        failed = self._rng() < self._error_rate
        loop.call_at(now + self._sample() * self._factor, self._finish, done, failed)

    def _finish(self, done: asyncio.Future[None], failed: bool) -> None:
        now = self._loop.time()
        busy = self.busy
        self._busy_area += busy * (now - self._busy_since)
        self._busy_since = now
        self.busy = busy - 1
        if not done.done():
            # Work still in service when an outage begins is lost with the connection.
            if failed or self._down:
                done.set_exception(DependencyError("error response from the dependency"))
            else:
                done.set_result(None)
        if self._queue:
            self._drain()

    def _drain(self) -> None:
        queue = self._queue
        while queue and self.busy < self.servers:
            done, since = queue.popleft()
            self.waited += self._loop.time() - since
            self._start(done)


class WorkerPool:
    """The calling service's shared pool of ``size`` workers; requests queue for one, FIFO.

    `try_acquire` takes a free worker if nobody is waiting; otherwise `wait`
    waits in line. A waiter that gives up (its task is cancelled, e.g. by the
    client's timeout) leaves the line, and a worker granted to it just as it
    gave up is passed on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._loop = loop
        self.size = size
        self.free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> int:
        """Workers holding a request."""
        return self.size - self.free

    @property
    def queued(self) -> int:
        """Requests waiting for a worker (some may have given up and not been skipped yet)."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a free worker at once (True) unless every one is busy or others wait first."""
        if self.free and not self._waiters:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait in line for a worker (after `try_acquire` failed)."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as it gave up: pass the worker on
            raise

    def release(self) -> None:
        """Give a worker back: to the oldest request still waiting, or to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1

"""The modelled dependency: servers, a FIFO queue, latency, errors and incidents.

`Service` is the frozen description; `Dependency` is one run's live state on
a virtual event loop. A call that reaches the dependency is an *attempt*. It
starts service at once if a server is free, waits in the FIFO queue
otherwise, or is refused if a bounded queue is full. Service takes a latency
sample (times the brownout factor) and then succeeds or fails with the error
rate in force when it started.

The server never learns that a client gave up: an attempt abandoned by a
timeout keeps its place in the queue and its server until its service time
is over. That is what lets retries pile doomed work onto an overloaded
dependency and keep it overloaded after the trigger has gone.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from brace import _validate
from brace._errors import ConfigError

__all__ = [
    "Brownout",
    "CapacityDrop",
    "Constant",
    "Dependency",
    "DependencyError",
    "Empirical",
    "ErrorBurst",
    "Exponential",
    "Incident",
    "Latency",
    "LogNormal",
    "Outage",
    "OverloadedError",
    "Service",
]


class DependencyError(ConnectionError):
    """An attempt failed at the modelled dependency (an error response or a refused connection)."""


class OverloadedError(DependencyError):
    """The dependency's bounded queue was full; the attempt was refused at once."""


# -- latency distributions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Constant:
    """Every service takes ``seconds``.

    Args:
        seconds: The service time, >= 0.
    """

    seconds: float

    def __post_init__(self) -> None:
        _validate.duration("seconds", self.seconds)

    def sampler(self, rng: random.Random) -> Callable[[], float]:  # noqa: ARG002 - shared signature
        """A zero-argument function drawing one service time."""
        seconds = self.seconds
        return lambda: seconds


@dataclass(frozen=True, slots=True)
class Exponential:
    """Service times exponentially distributed with the given ``mean``.

    Args:
        mean: Mean service time in seconds, > 0.
    """

    mean: float

    def __post_init__(self) -> None:
        _validate.duration("mean", self.mean, allow_zero=False)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A zero-argument function drawing one service time."""
        draw, rate = rng.expovariate, 1.0 / self.mean
        return lambda: draw(rate)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal service times: ``median * exp(sigma * N(0, 1))``, a long right tail.

    Args:
        median: The median service time in seconds, > 0.
        sigma: Shape: the standard deviation of the log, >= 0.
    """

    median: float
    sigma: float

    def __post_init__(self) -> None:
        _validate.duration("median", self.median, allow_zero=False)
        _validate.positive_number("sigma", self.sigma)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A zero-argument function drawing one service time."""
        draw, mu, sigma = rng.lognormvariate, math.log(self.median), self.sigma
        return lambda: draw(mu, sigma)


@dataclass(frozen=True, slots=True)
class Empirical:
    """Service times drawn uniformly from measured ``samples`` (seconds).

    Args:
        samples: At least one non-negative duration, e.g. latencies from production.
    """

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise ConfigError("samples=() is not allowed; expected at least one duration")
        for index, value in enumerate(self.samples):
            _validate.duration(f"samples[{index}]", value)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A zero-argument function drawing one service time."""
        choice, samples = rng.choice, self.samples
        return lambda: choice(samples)


Latency = Constant | Exponential | LogNormal | Empirical


# -- incidents ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """The dependency is down from ``at`` for ``duration`` seconds.

    Args:
        at: Start, in seconds from the beginning of the run.
        duration: Length in seconds.
        hang: False (default): attempts are refused at once (connection
            refused). True: attempts get no answer at all (a black hole),
            and only a client timeout ends them.
    """

    at: float
    duration: float
    hang: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Brownout:
    """Service times are multiplied by ``latency_factor`` from ``at`` for ``duration``.

    Args:
        at: Start, in seconds from the beginning of the run.
        duration: Length in seconds.
        latency_factor: Multiplier on every service time that starts inside, >= 1.
    """

    at: float
    duration: float
    latency_factor: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorBurst:
    """The error rate is ``rate`` from ``at`` for ``duration`` (instead of the base rate).

    Args:
        at: Start, in seconds from the beginning of the run.
        duration: Length in seconds.
        rate: Probability in [0, 1] that a service started inside fails.
    """

    at: float
    duration: float
    rate: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityDrop:
    """Only ``servers`` servers work from ``at`` for ``duration`` seconds.

    Args:
        at: Start, in seconds from the beginning of the run.
        duration: Length in seconds.
        servers: Servers left, >= 0; work already in service finishes.
    """

    at: float
    duration: float
    servers: int


Incident = Outage | Brownout | ErrorBurst | CapacityDrop


def check_incident(incident: Incident) -> None:
    """Raise `ConfigError` for a start, length or parameter out of range."""
    _validate.duration("at", incident.at)
    _validate.duration("duration", incident.duration, allow_zero=False)
    if isinstance(incident, Brownout):
        _validate.positive_number("latency_factor", incident.latency_factor, minimum=1.0)
    elif isinstance(incident, ErrorBurst):
        _validate.probability("rate", incident.rate)
    elif isinstance(incident, CapacityDrop):
        _validate.positive_int("servers", incident.servers, minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """A modelled dependency.

    Args:
        servers: Attempts served at once, >= 1. Default 10.
        queue: Most attempts waiting for a server; ``None`` (default) for no bound.
        latency: Service-time distribution. Default ``Exponential(0.05)``.
        error_rate: Probability that an attempt fails, in [0, 1]. Default 0.
        incidents: Outages, brownouts, error bursts and capacity drops. Default none.
    """

    servers: int = 10
    queue: int | None = None
    latency: Latency = field(default_factory=lambda: Exponential(0.05))
    error_rate: float = 0.0
    incidents: tuple[Incident, ...] = ()

    def __post_init__(self) -> None:
        _validate.positive_int("servers", self.servers)
        if self.queue is not None:
            _validate.positive_int("queue", self.queue, minimum=0)
        _validate.probability("error_rate", self.error_rate)
        for incident in self.incidents:
            check_incident(incident)


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


class Dependency:
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
        self._queue: deque[asyncio.Future[None]] = deque()
        self.busy = 0
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

    def _set_busy(self, busy: int) -> None:
        now = self._loop.time()
        self._busy_area += self.busy * (now - self._busy_since)
        self._busy_since = now
        self.busy = busy

    async def call(self) -> None:
        """One attempt: returns on success, raises `DependencyError` on failure."""
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
            self._queue.append(done)
        else:
            raise OverloadedError("the dependency's queue is full")
        await done

    def _start(self, done: asyncio.Future[None]) -> None:
        self._set_busy(self.busy + 1)
        failed = self._rng() < self._error_rate
        self._loop.call_at(
            self._loop.time() + self._sample() * self._factor, self._finish, done, failed
        )

    def _finish(self, done: asyncio.Future[None], failed: bool) -> None:
        self._set_busy(self.busy - 1)
        if not done.done():
            # Work still in service when an outage begins is lost with the connection.
            if failed or self._down:
                done.set_exception(DependencyError("error response from the dependency"))
            else:
                done.set_result(None)
        self._drain()

    def _drain(self) -> None:
        queue = self._queue
        while queue and self.busy < self.servers:
            self._start(queue.popleft())

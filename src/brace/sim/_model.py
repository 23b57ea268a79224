"""The modelled dependency, described: servers, queue, latency, errors and incidents.

`Service` is the frozen description of one dependency; `Dependency` names one
and gives it a share of the requests, for scenarios whose service calls
several. `Request` is what a simulated caller asks for. The live state of a
service during a run is in `brace.sim._live`.
"""

from __future__ import annotations

import math
import random
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
    "Request",
    "Service",
    "check_incident",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Dependency:
    """One of several dependencies a scenario's service calls, and its share of the requests.

    Each logical request calls exactly one dependency, chosen at random with
    probability ``share / (sum of shares)``; the strategy's policy is built
    once per dependency (so each has its own breaker, bulkhead, ...).

    Args:
        name: Shown in reports and passed to strategies as ``ctx.dependency``. Required.
        service: The modelled dependency. Required.
        share: Relative share of the requests that call it (> 0). Default 1.
    """

    name: str
    service: Service
    share: float = 1.0

    def __post_init__(self) -> None:
        _validate.name("name", self.name)
        _validate.positive_number("share", self.share)


class Request(int):
    """What one logical request asks a dependency for: the answer for user number ``user``.

    The simulated dependency answers with the request object itself, so the
    simulator tells a fresh answer (``answer is request``) from one a
    fallback served (a `brace.LastGood` value remembered from another
    request, or a static value). Requests for the same user compare equal and
    hash alike (a request is the int of its user), so a `brace.LastGood`
    keyed by the call's arguments (its default) remembers answers per user.
    """

    __slots__ = ()

    @property
    def user(self) -> int:
        """The user this request is for."""
        return int(self)

    def __repr__(self) -> str:
        return f"Request(user={int(self)})"

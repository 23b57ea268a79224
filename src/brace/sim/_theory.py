"""Queueing theory for checking the model: the M/M/c queue (Erlang's C formula).

With Poisson arrivals at rate ``lam``, exponential service at rate ``mu`` and
``servers`` servers sharing an unbounded FIFO queue, an arrival waits with
probability C (Erlang's C formula); a wait, when there is one, is
exponential with rate ``servers * mu - lam``; the response time is the wait
plus an exponential service time. The tests and ``benchmarks/simulator.py``
compare the simulated dependency with these.
"""

from __future__ import annotations

import math

from brace.sim._load import OpenLoop
from brace.sim._model import Exponential, Service
from brace.sim._scenario import Scenario

__all__ = ["MMc"]


class MMc:
    """An M/M/c queue: ``servers`` servers, arrivals at ``lam``/s, service at ``mu``/s each."""

    def __init__(self, servers: int, lam: float, mu: float) -> None:
        if lam >= servers * mu:
            raise ValueError(f"lam={lam!r} >= servers * mu: the queue grows without bound")
        self.servers, self.lam, self.mu = servers, lam, mu

    def scenario(self, duration: float) -> Scenario:
        """This queue as a scenario: no incidents, and a client timeout that never fires."""
        return Scenario(
            name=f"M/M/{self.servers}",
            duration=duration,
            client_timeout=1e6,
            load=OpenLoop(rate=self.lam),
            service=Service(servers=self.servers, latency=Exponential(1 / self.mu)),
        )

    @property
    def wait_probability(self) -> float:
        """Erlang's C formula: the probability that an arrival waits for a server."""
        offered, c = self.lam / self.mu, self.servers
        below = sum(offered**k / math.factorial(k) for k in range(c))
        top = offered**c / math.factorial(c) / (1 - offered / c)
        return top / (below + top)

    @property
    def mean_wait(self) -> float:
        """Mean time in the queue before service starts."""
        return self.wait_probability / (self.servers * self.mu - self.lam)

    def response_quantile(self, q: float) -> float:
        """The ``q`` quantile (0 < q < 1) of the response time, wait plus service."""
        waits, mu = self.wait_probability, self.mu
        theta = self.servers * mu - self.lam

        def survival(t: float) -> float:
            # P(service + exponential wait > t), the hypoexponential tail.
            both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
            return (1 - waits) * math.exp(-mu * t) + waits * both

        low, high = 0.0, 1.0
        while 1 - survival(high) < q:
            high *= 2
        for _ in range(100):
            mid = (low + high) / 2
            low, high = (mid, high) if 1 - survival(mid) < q else (low, mid)
        return low

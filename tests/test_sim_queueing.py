"""The simulated dependency agrees with queueing theory: M/M/c against Erlang's C formula.

Poisson arrivals at rate lambda, exponential service at rate mu, c servers,
an unbounded FIFO queue, no incidents and no retries: a request waits with
probability C(c, a) (a = lambda/mu, Erlang's C formula), the mean wait is
C / (c*mu - lambda), and the response time is a service time plus, with
probability C, an exponential wait of rate c*mu - lambda. Two runs of 300
simulated seconds (96,000 requests) keep the sampling error near 1%;
``benchmarks/simulator.py --queueing`` runs a longer check.
"""

from __future__ import annotations

import math

import pytest

import brace
from brace.sim import Exponential, OpenLoop, Scenario, Service, StrategyContext, simulate

SERVERS, MU, LAMBDA = 10, 20.0, 160.0  # utilisation 0.8: a queue forms often


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang's C formula)."""
    rho = offered / servers
    below = sum(offered**k / math.factorial(k) for k in range(servers))
    top = offered**servers / math.factorial(servers) / (1 - rho)
    return top / (below + top)


def response_quantile(q: float) -> float:
    """The q-quantile of the M/M/c response time (wait + service), by bisection."""
    waits = erlang_c(SERVERS, LAMBDA / MU)
    theta = SERVERS * MU - LAMBDA

    def survival(t: float) -> float:
        both = (theta * math.exp(-MU * t) - MU * math.exp(-theta * t)) / (theta - MU)
        return (1 - waits) * math.exp(-MU * t) + waits * both

    low, high = 0.0, 10.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if 1 - survival(mid) < q else (low, mid)
    return low


def passthrough(ctx: StrategyContext) -> brace.Policy:
    # A timeout that never fires: one attempt, nothing retried, nothing shed.
    return brace.Timeout(1e6)


def test_mm_c_matches_erlang_c_mean_wait_and_response_time_percentiles() -> None:
    scenario = Scenario(
        name="mmc",
        duration=300,
        client_timeout=1e6,
        load=OpenLoop(rate=LAMBDA),
        service=Service(servers=SERVERS, latency=Exponential(1 / MU)),
    )
    result = simulate(scenario, [passthrough], seed=1, runs=2).strategies["passthrough"]
    expected_wait = erlang_c(SERVERS, LAMBDA / MU) / (SERVERS * MU - LAMBDA)
    assert result.mean_queue_wait == pytest.approx(expected_wait, rel=0.05)
    assert result.latency_p50 == pytest.approx(response_quantile(0.5), rel=0.03)
    assert result.latency_p95 == pytest.approx(response_quantile(0.95), rel=0.03)
    assert result.latency_p99 == pytest.approx(response_quantile(0.99), rel=0.03)
    assert result.success_rate == 1.0


def test_erlang_c_reference_values() -> None:
    # Textbook values: C(2, 1) = 1/3; C(10, 8) ~ 0.409.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-4)

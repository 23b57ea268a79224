"""The simulated dependency agrees with queueing theory: M/M/c against Erlang's C formula.

Poisson arrivals, exponential service, c servers, an unbounded FIFO queue,
no incidents and no retries. Two runs of 300 simulated seconds (96,000
requests) keep the sampling error near 1%; ``benchmarks/simulator.py
--queueing`` runs a longer check.
"""

from __future__ import annotations

import pytest

import brace
from brace.sim import StrategyContext, simulate
from brace.sim._theory import MMc

QUEUE = MMc(servers=10, lam=160.0, mu=20.0)  # utilisation 0.8: a queue forms often


def passthrough(ctx: StrategyContext) -> brace.Policy:
    # A timeout that never fires: one attempt, nothing retried, nothing shed.
    return brace.Timeout(1e6)


def test_mm_c_matches_erlang_c_mean_wait_and_response_time_percentiles() -> None:
    result = simulate(QUEUE.scenario(duration=300), [passthrough], seed=1, runs=2).strategies[
        "passthrough"
    ]
    assert result.mean_queue_wait == pytest.approx(QUEUE.mean_wait, rel=0.05)
    assert result.latency_p50 == pytest.approx(QUEUE.response_quantile(0.5), rel=0.03)
    assert result.latency_p95 == pytest.approx(QUEUE.response_quantile(0.95), rel=0.03)
    assert result.latency_p99 == pytest.approx(QUEUE.response_quantile(0.99), rel=0.03)
    assert result.success_rate == 1.0


def test_erlang_c_reference_values() -> None:
    # Textbook values: C(2 servers, 1 Erlang) = 1/3; C(10, 8) ~ 0.409.
    assert MMc(servers=2, lam=1.0, mu=1.0).wait_probability == pytest.approx(1 / 3)
    assert QUEUE.wait_probability == pytest.approx(0.40918, abs=1e-5)
    # One server: the response time is exponential with rate mu - lam.
    single = MMc(servers=1, lam=1.0, mu=2.0)
    assert single.response_quantile(0.5) == pytest.approx(0.6931, abs=1e-3)
    with pytest.raises(ValueError, match="grows without bound"):
        MMc(servers=1, lam=2.0, mu=2.0)

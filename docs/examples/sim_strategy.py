"""Compare your own strategy with the built-ins in the simulator.

A strategy is a factory: it takes a `brace.sim.StrategyContext` (the run's
virtual clock, a seeded random source, the scenario's attempt timeout) and
returns a policy. Run it from the command line with

    brace simulate outage --strategy brace --strategy sim_strategy:patient

(from this directory), or from Python as below.
"""

import dataclasses

import brace
from brace.sim import OpenLoop, StrategyContext, load_scenario, simulate


def patient(ctx: StrategyContext) -> brace.Policy:
    """Up to five attempts with decorrelated jitter, a budget, and a consecutive-failure breaker."""
    retry = brace.Retry(
        attempts=5,
        backoff=brace.Backoff.exponential(initial=0.05, max_delay=1.0, jitter="decorrelated"),
        on=ctx.retryable,
        budget=brace.RetryBudget(ratio=0.2, min_per_second=2, clock=ctx.clock),
        rng=ctx.rng,
        clock=ctx.clock,
    )
    breaker = brace.CircuitBreaker(consecutive_failures=10, open_for=3.0, clock=ctx.clock)
    return brace.pipeline(retry, breaker, brace.Timeout(ctx.attempt_timeout))


if __name__ == "__main__":
    # The default outage scenario, shortened and at half the load so this runs in a second.
    scenario = dataclasses.replace(load_scenario("outage"), duration=120, load=OpenLoop(rate=50))
    result = simulate(scenario, ["brace", patient])
    for name, r in result.strategies.items():
        recovered = (
            "did not recover" if r.recovery_seconds is None else f"{r.recovery_seconds:.0f} s"
        )
        print(
            f"{name:8} success {r.success_rate:6.1%}  amplification {r.amplification:.2f}x  "
            f"p99 {r.latency_p99 * 1000:4.0f} ms  recovery {recovered}"
        )

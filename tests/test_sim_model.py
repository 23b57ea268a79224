"""The simulator's parts: dependency model, load model, metrics, scenario files."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from brace.sim import (
    Brownout,
    CapacityDrop,
    ClosedLoop,
    Constant,
    Contention,
    Dependency,
    DependencyError,
    Empirical,
    ErrorBurst,
    Exponential,
    LogNormal,
    OpenLoop,
    Outage,
    OverloadedError,
    Scenario,
    ScenarioError,
    Service,
    Spike,
    builtin_scenarios,
    load_scenario,
)
from brace.sim._live import LiveService, WorkerPool
from brace.sim._load import start_load
from brace.sim._metrics import percentile, recovery_seconds
from brace.sim._model import Request
from brace.testing import run


def _drive(service: Service, starts: list[float], horizon: float) -> tuple[list[str], LiveService]:
    """Send one attempt at each start time; return each outcome as 'ok@t' / error name."""
    outcomes: list[str] = []

    async def main() -> LiveService:
        loop = asyncio.get_running_loop()
        dep = LiveService(service, loop, random.Random(1), lambda now: None)

        async def one() -> None:
            try:
                await dep.call(Request(1))
                outcomes.append(f"ok@{loop.time():g}")
            except DependencyError as exc:
                outcomes.append(f"{type(exc).__name__}@{loop.time():g}")

        for t in starts:
            loop.call_at(t, lambda: loop.create_task(one()))
        done = loop.create_future()
        loop.call_at(horizon, done.set_result, None)
        await done
        return dep

    dep = run(main())
    return outcomes, dep


def test_servers_serve_in_parallel_and_the_rest_wait_in_fifo_order() -> None:
    service = Service(servers=2, latency=Constant(1.0))
    outcomes, _ = _drive(service, [0.0, 0.0, 0.0, 0.0, 0.0], 10.0)
    assert outcomes == ["ok@1", "ok@1", "ok@2", "ok@2", "ok@3"]


def test_a_full_bounded_queue_refuses_at_once() -> None:
    service = Service(servers=1, queue=1, latency=Constant(1.0))
    outcomes, _ = _drive(service, [0.0, 0.0, 0.0], 10.0)
    assert outcomes == ["OverloadedError@0", "ok@1", "ok@2"]
    assert issubclass(OverloadedError, DependencyError)


def test_an_outage_refuses_attempts_and_a_hanging_one_never_answers() -> None:
    refused = Service(servers=1, latency=Constant(0.5), incidents=(Outage(at=1, duration=2),))
    outcomes, _ = _drive(refused, [0.0, 1.5, 3.0], 10.0)
    assert outcomes == ["ok@0.5", "DependencyError@1.5", "ok@3.5"]
    hanging = Service(latency=Constant(0.5), incidents=(Outage(at=0, duration=2, hang=True),))
    outcomes, _ = _drive(hanging, [1.0], 10.0)
    assert outcomes == []


def test_brownout_multiplies_service_times_started_inside_it() -> None:
    service = Service(
        latency=Constant(0.1), incidents=(Brownout(at=1, duration=1, latency_factor=5),)
    )
    outcomes, _ = _drive(service, [0.0, 1.0, 2.0], 10.0)
    assert outcomes == ["ok@0.1", "ok@1.5", "ok@2.1"]


def test_error_burst_and_base_error_rate() -> None:
    burst = Service(latency=Constant(0.1), incidents=(ErrorBurst(at=1, duration=1, rate=1.0),))
    outcomes, _ = _drive(burst, [0.0, 1.0, 2.0], 10.0)
    assert outcomes == ["ok@0.1", "DependencyError@1.1", "ok@2.1"]
    always = Service(latency=Constant(0.1), error_rate=1.0)
    outcomes, _ = _drive(always, [0.0], 10.0)
    assert outcomes == ["DependencyError@0.1"]


def test_capacity_drop_queues_new_work_and_restores_servers_after() -> None:
    service = Service(
        servers=2, latency=Constant(1.0), incidents=(CapacityDrop(at=0, duration=3, servers=1),)
    )
    outcomes, _ = _drive(service, [0.5, 0.5, 0.5], 10.0)
    # One server until t=3: the second finishes at 2.5; the third starts at 2.5 and ends at 3.5.
    assert outcomes == ["ok@1.5", "ok@2.5", "ok@3.5"]


def test_abandoned_work_still_occupies_the_server() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        dep = LiveService(
            Service(servers=1, latency=Constant(1.0)), loop, random.Random(1), lambda t: None
        )
        first = loop.create_task(dep.call(Request(1)))
        await asyncio.sleep(0)  # noqa: TID251 - one loop turn so the attempt reaches the server
        first.cancel()  # the client gives up; the server does not know
        await dep.call(Request(1))
        return [f"{loop.time():g}", str(dep.busy_seconds())]

    assert run(main()) == ["2", "2.0"]


def test_latency_distributions_draw_what_they_say() -> None:
    rng = random.Random(3)
    assert Constant(0.2).sampler(rng)() == 0.2
    assert Empirical((0.1, 0.3)).sampler(rng)() in {0.1, 0.3}
    draws = [Exponential(0.05).sampler(rng)() for _ in range(4000)]
    assert sum(draws) / len(draws) == pytest.approx(0.05, rel=0.1)
    logs = sorted(LogNormal(0.05, 0.5).sampler(rng)() for _ in range(4001))
    assert logs[2000] == pytest.approx(0.05, rel=0.1)


def test_open_loop_arrivals_follow_rate_and_spikes() -> None:
    load = OpenLoop(rate=50, spikes=(Spike(at=10, duration=10, rate=200),))
    assert load.segments(30) == [(0.0, 10, 50), (10, 20, 200), (20, 30.0, 50)]
    times: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def request() -> None:
            times.append(loop.time())

        start_load(
            load, loop=loop, rng=random.Random(2), request=request, spawn=loop.create_task, end=30
        )
        done = loop.create_future()
        loop.call_at(31, done.set_result, None)
        await done

    run(main())
    inside = sum(1 for t in times if 10 <= t < 20)
    outside = len(times) - inside
    assert inside == pytest.approx(2000, rel=0.1)
    assert outside == pytest.approx(1000, rel=0.15)
    assert max(times) < 30


def test_closed_loop_clients_wait_for_their_answer_and_think() -> None:
    starts: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def request() -> None:
            starts.append(loop.time())
            pause = loop.create_future()
            loop.call_later(0.4, pause.set_result, None)
            await pause

        tasks: list[asyncio.Task[None]] = []
        start_load(
            ClosedLoop(clients=2, think_time=Constant(0.1)),
            loop=loop,
            rng=random.Random(1),
            request=request,
            spawn=lambda c: tasks.append(loop.create_task(c)),
            end=1.2,
        )
        await asyncio.gather(*tasks)

    run(main())
    assert starts == pytest.approx([0, 0, 0.5, 0.5, 1.0, 1.0])


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (
        50.0,
        99.0,
        None,
    )


def test_recovery_is_measured_from_the_incident_end_and_must_hold() -> None:
    started = [10] * 20
    ok = [10] * 5 + [0] * 5 + [2, 10, 3, 10, 10, 10, 10, 10, 10, 10]
    # Back at t=11 but falls again at 12; holds from 13 on: 3 s after the end at 10.
    assert recovery_seconds(started, ok, (5, 10)) == 3.0
    assert recovery_seconds(started, [10] * 5 + [0] * 15, (5, 10)) is None
    assert recovery_seconds(started, ok, None) is None


def test_every_builtin_scenario_loads() -> None:
    assert builtin_scenarios() == [
        "brownout",
        "bulkhead",
        "contention",
        "outage",
        "overload-spike",
    ]
    outage = load_scenario("outage")
    assert isinstance(outage, Scenario)
    assert outage.duration == 180
    assert outage.incident() == (60, 90)
    assert isinstance(load_scenario("contention"), Contention)
    spike = load_scenario("overload-spike")
    assert isinstance(spike, Scenario)
    assert spike.incident() == (40, 50)
    bulkhead = load_scenario("bulkhead")
    assert isinstance(bulkhead, Scenario)
    assert [d.name for d in bulkhead.routes()] == ["payment", "inventory", "shipping"]
    assert bulkhead.workers == 40
    assert bulkhead.incident() == (60, 120)


_GOOD = """
name = "mine"
duration = 30
[client]
timeout = 1.0
attempt_timeout = 0.25
[load]
kind = "closed"
clients = 5
think_time = { distribution = "constant", seconds = 0.2 }
[service]
servers = 3
latency = { distribution = "empirical", samples = [0.01, 0.02] }
[[incidents]]
kind = "capacity_drop"
at = 5
duration = 5
servers = 1
"""


def test_a_user_scenario_file_loads_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(_GOOD)
    scenario = load_scenario(str(path))
    assert isinstance(scenario, Scenario)
    assert scenario.load == ClosedLoop(clients=5, think_time=Constant(0.2))
    assert scenario.service is not None
    assert scenario.service.incidents == (CapacityDrop(at=5, duration=5, servers=1),)
    assert (scenario.client_timeout, scenario.attempt_timeout) == (1.0, 0.25)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("servers = 3", "servers = 'three'"),
            r"service\.servers: expected an integer >= 1, got 'three' \(string\)",
        ),
        (("servers = 3", "servrs = 3"), r"unknown key 'service\.servrs'; expected one of"),
        (("duration = 30", "duration = -1"), r"duration: expected a number >= 0, got -1"),
        (
            ('kind = "capacity_drop"', 'kind = "meteor"'),
            r"incidents\[0\]\.kind: expected one of 'outage'",
        ),
        (
            ("servers = 1\n", "servers = 1\ncolour = 'red'\n"),
            r"unknown key 'incidents\[0\]\.colour'",
        ),
        (("[load]", "[lode]"), r"unknown key 'lode'|load: expected a value"),
        (("samples = [0.01, 0.02]", "samples = []"), r"samples: expected a non-empty array"),
    ],
)
def test_a_bad_scenario_file_names_file_key_and_expectation(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(_GOOD.replace(*change))
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(str(path))
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_unknown_scenario_and_unreadable_or_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; expected one of brownout"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[load\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(str(bad))


def test_model_objects_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="servers=0"):
        Service(servers=0)
    with pytest.raises(ValueError, match="error_rate=2"):
        Service(error_rate=2)
    with pytest.raises(ValueError, match="latency_factor"):
        Service(incidents=(Brownout(at=0, duration=1, latency_factor=0.5),))
    with pytest.raises(ValueError, match="samples"):
        Empirical(())


def test_worker_pool_serves_in_line_and_passes_on_a_worker_its_waiter_gave_up() -> None:
    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = WorkerPool(loop, 1)
        assert pool.try_acquire()
        assert not pool.try_acquire()

        async def waiter(name: str) -> None:
            await pool.wait()
            order.append(f"{name}@{loop.time():g}")
            await asyncio.sleep(1)  # noqa: TID251 - holds the worker one virtual second
            pool.release()

        impatient = loop.create_task(waiter("impatient"))
        patient = loop.create_task(waiter("patient"))
        await asyncio.sleep(0)  # noqa: TID251 - both in line
        assert pool.queued == 2
        impatient.cancel()  # gives up before a worker comes
        loop.call_at(2.0, pool.release)
        await patient
        assert (pool.busy, pool.free) == (0, 1)

    run(main())
    assert order == ["patient@2"]


def test_a_dependency_counts_the_time_attempts_waited_in_its_queue() -> None:
    _, dep = _drive(Service(servers=1, latency=Constant(1.0)), [0.0, 0.0, 0.0], 10.0)
    assert (dep.started, dep.waited) == (3, 3.0)  # waits of 0, 1 and 2 seconds


def test_dependencies_need_names_and_positive_shares() -> None:
    with pytest.raises(ValueError, match="share=0"):
        Dependency(name="payment", service=Service(), share=0)
    with pytest.raises(ValueError, match="name=''"):
        Dependency(name="", service=Service())
    with pytest.raises(ValueError, match=r"exactly one of service= .* and dependencies="):
        Scenario(name="x", load=OpenLoop(rate=1))
    twice = (Dependency(name="a", service=Service()), Dependency(name="a", service=Service()))
    with pytest.raises(ValueError, match="distinct names"):
        Scenario(name="x", load=OpenLoop(rate=1), dependencies=twice)


_SEVERAL = """
name = "several"
duration = 20
[client]
workers = 8
[load]
rate = 10
users = 50
[dependencies.payment]
share = 2
servers = 2
[[dependencies.payment.incidents]]
kind = "outage"
hang = true
at = 5
duration = 5
[dependencies.stock]
servers = 3
latency = { distribution = "constant", seconds = 0.01 }
"""


def test_a_scenario_file_with_several_dependencies_and_a_worker_pool(tmp_path: Path) -> None:
    path = tmp_path / "several.toml"
    path.write_text(_SEVERAL)
    scenario = load_scenario(str(path))
    assert isinstance(scenario, Scenario)
    assert (scenario.workers, scenario.users, scenario.service) == (8, 50, None)
    payment, stock = scenario.dependencies
    assert (payment.name, payment.share, payment.service.servers) == ("payment", 2.0, 2)
    assert payment.service.incidents == (Outage(at=5, duration=5, hang=True),)
    assert (stock.name, stock.share, stock.service.latency) == ("stock", 1.0, Constant(0.01))
    path.write_text(_SEVERAL.replace("servers = 3", "servers = 3\ncolour = 1"))
    with pytest.raises(ScenarioError, match=r"unknown key 'dependencies\.stock\.colour'"):
        load_scenario(str(path))
    path.write_text(_SEVERAL.replace("share = 2", "share = -2"))
    with pytest.raises(ScenarioError, match=r"dependencies\.payment\.share: expected a number"):
        load_scenario(str(path))

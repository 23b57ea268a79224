"""Scenarios: what to simulate, as Python objects or TOML files.

Built-in scenarios ship as TOML files inside the package
(``brace/sim/scenarios/*.toml``); a user's own file has the same layout (see
``docs/simulator.md``). Loading is strict: an unknown key, a wrong type or a
value out of range is a `ScenarioError` naming the file, the key and what
was expected.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from brace import _validate
from brace._errors import ConfigError
from brace.sim._load import ClosedLoop, Load, OpenLoop
from brace.sim._model import Dependency, Service
from brace.sim._strategies import DEFAULT_STRATEGIES
from brace.sim._toml import (
    ScenarioError,
    Table,
    parse_contention,
    parse_dependencies,
    parse_load,
    parse_service,
)

__all__ = ["Contention", "Scenario", "ScenarioError", "builtin_scenarios", "load_scenario"]

CONTENTION_VARIANTS = ("none", "exponential", "equal", "full", "decorrelated")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A service calling one or more dependencies under a load, simulated once per strategy.

    Give exactly one of ``service`` (one dependency) and ``dependencies``
    (several: each request calls one of them, chosen by its share).

    Args:
        name: Shown in reports. Required.
        load: `OpenLoop` or `ClosedLoop`. Required.
        service: The modelled dependency, when there is one.
        dependencies: `Dependency` entries, when the service calls several.
        description: One line for reports. Default ``""``.
        duration: Simulated seconds of arrivals (> 0). Default 180.
        seed: Default seed for its random numbers. Default 1.
        client_timeout: Seconds a caller waits for one logical request,
            retries and waiting for a worker included (> 0). Default 2.0.
        attempt_timeout: Seconds per attempt, given to strategies (> 0). Default 0.5.
        workers: The calling service's shared pool of workers: each request
            holds one for its whole life and waits in line for one when all
            are busy. Default ``None``: no pool (no limit).
        users: Each request is for one of this many users, drawn uniformly
            (what a `brace.LastGood` remembers answers by). Default 1000.
        strategies: Names run when none are asked for. Default: `DEFAULT_STRATEGIES`
            (every built-in but ``bulkhead``).
    """

    name: str
    load: Load
    service: Service | None = None
    dependencies: tuple[Dependency, ...] = ()
    description: str = ""
    duration: float = 180.0
    seed: int = 1
    client_timeout: float = 2.0
    attempt_timeout: float = 0.5
    workers: int | None = None
    users: int = 1000
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES

    def __post_init__(self) -> None:
        _validate.duration("duration", self.duration, allow_zero=False)
        _validate.duration("client_timeout", self.client_timeout, allow_zero=False)
        _validate.duration("attempt_timeout", self.attempt_timeout, allow_zero=False)
        _validate.positive_int("users", self.users)
        if self.workers is not None:
            _validate.positive_int("workers", self.workers)
        if (self.service is None) == (not self.dependencies):
            raise ConfigError(
                "expected exactly one of service= (one dependency) and dependencies= (several)"
            )
        names = [d.name for d in self.dependencies]
        if len(set(names)) != len(names):
            raise ConfigError(f"dependencies={names!r}: expected distinct names")

    def routes(self) -> tuple[Dependency, ...]:
        """Every dependency with its share; a single ``service`` is named ``"dependency"``."""
        if self.service is not None:
            return (Dependency(name="dependency", service=self.service),)
        return self.dependencies

    def incident(self) -> tuple[float, float] | None:
        """``(start, end)`` spanning every incident and load spike, or None if there is none."""
        spans = [(i.at, i.at + i.duration) for d in self.routes() for i in d.service.incidents]
        if isinstance(self.load, OpenLoop):
            spans += [(s.at, s.at + s.duration) for s in self.load.spikes]
        if not spans:
            return None
        return min(a for a, _ in spans), max(b for _, b in spans)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contention:
    """Brooker's optimistic-concurrency experiment ("Exponential Backoff And Jitter").

    N clients each update one row once: read its version, write with that
    version; a write with a stale version is rejected and the client backs
    off and tries again. Every network delay is ``|normal(mean, sd)|``.

    Args:
        name: Shown in reports. Default ``"contention"``.
        description: One line for reports. Default ``""``.
        clients: The sweep over client counts. Default (10, 50, 100, 150, 190).
        runs: Runs averaged per point (>= 1). Default 100.
        seed: Default seed. Default 1.
        network_mean: Mean one-way network delay, seconds. Default 0.010.
        network_sd: Its standard deviation. Default 0.002.
        base: Backoff base, seconds. Default 0.005.
        cap: Backoff cap, seconds. Default 2.0.
        variants: Backoff variants compared. Default all five.
    """

    name: str = "contention"
    description: str = ""
    clients: tuple[int, ...] = (10, 50, 100, 150, 190)
    runs: int = 100
    seed: int = 1
    network_mean: float = 0.010
    network_sd: float = 0.002
    base: float = 0.005
    cap: float = 2.0
    variants: tuple[str, ...] = field(default=CONTENTION_VARIANTS)

    def __post_init__(self) -> None:
        _validate.positive_int("runs", self.runs)
        for index, count in enumerate(self.clients):
            _validate.positive_int(f"clients[{index}]", count)
        _validate.duration("network_mean", self.network_mean)
        _validate.duration("network_sd", self.network_sd)
        _validate.duration("base", self.base, allow_zero=False)
        _validate.duration("cap", self.cap, allow_zero=False)
        for variant in self.variants:
            if variant not in CONTENTION_VARIANTS:
                raise ConfigError(
                    f"variants: {variant!r} is not allowed; expected one of "
                    f"{', '.join(CONTENTION_VARIANTS)}"
                )


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with brace."""
    folder = resources.files("brace.sim") / "scenarios"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_scenario(ref: str | Path) -> Scenario | Contention:
    """A built-in scenario by name, or a scenario TOML file by path.

    Raises:
        ScenarioError: unknown name, unreadable file, bad TOML, or a wrong key, type or value.
    """
    text: str
    where: str
    if isinstance(ref, Path) or ref.endswith(".toml") or "/" in ref or "\\" in ref:
        path = Path(ref)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{where}: cannot read scenario file ({exc.strerror})") from None
    else:
        names = builtin_scenarios()
        if ref not in names:
            raise ScenarioError(
                f"unknown scenario {ref!r}; expected one of {', '.join(names)} "
                "or a path to a .toml file"
            )
        where = f"{ref}.toml"
        text = (resources.files("brace.sim") / "scenarios" / where).read_text(encoding="utf-8")
    return parse_scenario(text, where)


def parse_scenario(text: str, where: str) -> Scenario | Contention:
    """Parse scenario TOML ``text``; ``where`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML ({exc})") from None
    root = Table(data, "", where)
    kind = root.choice("kind", ("service", "contention"), "service")
    if kind == "contention":
        return parse_contention(root, Contention)
    name = root.string("name", None)
    description = root.string("description", "")
    duration = root.seconds("duration", 180.0, positive=True)
    seed = root.integer("seed", 1, minimum=0)
    strategies = root.strings("strategies", DEFAULT_STRATEGIES)
    client = root.table("client")
    client_timeout = client.seconds("timeout", 2.0, positive=True)
    attempt_timeout = client.seconds("attempt_timeout", 0.5, positive=True)
    workers = client.integer("workers", None)
    client.finish()
    load_table = root.table("load", required=True)
    users = load_table.integer("users", 1000)
    load: OpenLoop | ClosedLoop = parse_load(load_table)
    service: Service | None = None
    dependencies: tuple[Dependency, ...] = ()
    if "dependencies" in data:
        dependencies = parse_dependencies(root)
    else:
        service = parse_service(root.table("service", required=True), root.tables("incidents"))
    root.finish()
    with root.context():
        return Scenario(
            name=name or Path(where).stem,
            description=description,
            duration=duration,
            seed=seed,
            client_timeout=client_timeout,
            attempt_timeout=attempt_timeout,
            workers=workers,
            users=users,
            strategies=strategies,
            load=load,
            service=service,
            dependencies=dependencies,
        )

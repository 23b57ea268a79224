"""Strict reading of scenario TOML: every key known, every value checked.

`Table` wraps one TOML table, remembers which keys were read, and refuses
the rest in `Table.finish`; every error names the file, the dotted key and
what was expected, in one line.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any, TypeVar

from brace._errors import ConfigError
from brace.sim._load import ClosedLoop, OpenLoop, Spike
from brace.sim._model import (
    Brownout,
    CapacityDrop,
    Constant,
    Dependency,
    Empirical,
    ErrorBurst,
    Exponential,
    Incident,
    Latency,
    LogNormal,
    Outage,
    Service,
)

__all__ = [
    "ScenarioError",
    "Table",
    "parse_contention",
    "parse_dependencies",
    "parse_load",
    "parse_service",
]

T = TypeVar("T")

_MISSING: Any = object()


class ScenarioError(ConfigError):
    """A scenario that cannot be loaded: unknown name, bad TOML, or a wrong key, type or value."""


def _kind(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string"}.get(
        type(value), "table" if isinstance(value, dict) else type(value).__name__
    )


class Table:
    """One TOML table being read; ``path`` is its dotted name, ``where`` the file."""

    def __init__(self, data: dict[str, Any], path: str, where: str) -> None:
        self._data = data
        self._path = path
        self._where = where
        self._seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def fail(self, key: str, expected: str, value: object = _MISSING) -> ScenarioError:
        """An error for ``key``: what was expected and, if given, what was found."""
        found = "" if value is _MISSING else f", got {value!r} ({_kind(value)})"
        return ScenarioError(f"{self._where}: {self._key(key)}: expected {expected}{found}")

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """Re-raise a `ConfigError` from building a model object as a one-line `ScenarioError`."""
        try:
            yield
        except ScenarioError:
            raise
        except ConfigError as exc:
            where = f"[{self._path}] " if self._path else ""
            raise ScenarioError(f"{self._where}: {where}{exc}") from None

    def _get(self, key: str, default: object) -> object:
        self._seen.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise self.fail(key, "a value (the key is required)")
        return default

    def number(self, key: str, default: float | None = _MISSING, *, minimum: float = 0.0) -> float:
        """A finite int or float >= ``minimum``."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value  # type: ignore[return-value]
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < minimum
        ):
            raise self.fail(key, f"a number >= {minimum:g}", value)
        return float(value)

    def seconds(self, key: str, default: float = _MISSING, *, positive: bool = False) -> float:
        """A finite number of seconds, >= 0 (or > 0 with ``positive``)."""
        value = self.number(key, default)
        if positive and value <= 0:
            raise self.fail(key, "a number of seconds > 0", value)
        return value

    def integer(self, key: str, default: int | None = _MISSING, *, minimum: int = 1) -> int:
        """An integer >= ``minimum`` (``None`` default passes through)."""
        value = self._get(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(key, f"an integer >= {minimum}", value)
        return value

    def string(self, key: str, default: str | None = _MISSING) -> str:
        """A string."""
        value = self._get(key, default)
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str = _MISSING) -> str:
        """One of ``allowed``."""
        value = self.string(key, default)
        if value not in allowed:
            raise self.fail(key, "one of " + ", ".join(repr(a) for a in allowed), value)
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        """A boolean (true or false)."""
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """An array of strings."""
        value = self._get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "an array of strings", value)
        return tuple(value)

    def numbers(self, key: str, default: tuple[float, ...] = _MISSING) -> tuple[float, ...]:
        """A non-empty array of numbers."""
        value = self._get(key, default)
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise self.fail(key, "a non-empty array of numbers", value)
        return tuple(float(v) for v in value)

    def integers(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        """A non-empty array of integers >= 1."""
        value = self._get(key, default)
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        ):
            raise self.fail(key, "a non-empty array of integers >= 1", value)
        return tuple(value)

    def table(self, key: str, *, required: bool = False) -> Table:
        """A sub-table (empty if absent and not ``required``)."""
        value = self._get(key, _MISSING if required else {})
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value)
        return Table(value, self._key(key), self._where)

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[key]]``), empty if absent."""
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, "an array of tables ([[...]])", value)
        return [Table(v, f"{self._key(key)}[{i}]", self._where) for i, v in enumerate(value)]

    def finish(self) -> None:
        """Refuse any key that was not read."""
        for key in self._data:
            if key not in self._seen:
                known = ", ".join(sorted(self._seen)) or "none"
                raise ScenarioError(
                    f"{self._where}: unknown key {self._key(key)!r}; expected one of {known}"
                )


def _latency(table: Table) -> Latency:
    kind = table.choice(
        "distribution", ("constant", "exponential", "lognormal", "empirical"), "exponential"
    )
    with table.context():
        latency: Latency
        if kind == "constant":
            latency = Constant(table.seconds("seconds"))
        elif kind == "exponential":
            latency = Exponential(table.seconds("mean", positive=True))
        elif kind == "lognormal":
            latency = LogNormal(table.seconds("median", positive=True), table.number("sigma"))
        else:
            latency = Empirical(table.numbers("samples"))
    table.finish()
    return latency


def parse_load(table: Table) -> OpenLoop | ClosedLoop:
    """``[load]``: ``kind = "open"`` (rate, spikes) or ``"closed"`` (clients, think_time)."""
    kind = table.choice("kind", ("open", "closed"), "open")
    load: OpenLoop | ClosedLoop
    with table.context():
        if kind == "open":
            rate = table.number("rate")
            spikes = []
            for spike in table.tables("spikes"):
                with spike.context():
                    spikes.append(
                        Spike(
                            at=spike.seconds("at"),
                            duration=spike.seconds("duration", positive=True),
                            rate=spike.number("rate"),
                        )
                    )
                spike.finish()
            load = OpenLoop(rate=rate, spikes=tuple(spikes))
        else:
            clients = table.integer("clients")
            think = table.table("think_time")
            think_time = _latency(think) if "think_time" in table._data else Constant(0.1)
            load = ClosedLoop(clients=clients, think_time=think_time)
    table.finish()
    return load


def _incident(table: Table) -> Incident:
    kind = table.choice("kind", ("outage", "brownout", "error_burst", "capacity_drop"))
    at, duration = table.seconds("at"), table.seconds("duration", positive=True)
    incident: Incident
    with table.context():
        if kind == "outage":
            incident = Outage(at=at, duration=duration, hang=table.boolean("hang", default=False))
        elif kind == "brownout":
            factor = table.number("latency_factor", minimum=1.0)
            incident = Brownout(at=at, duration=duration, latency_factor=factor)
        elif kind == "error_burst":
            incident = ErrorBurst(at=at, duration=duration, rate=table.number("rate"))
        else:
            servers = table.integer("servers", minimum=0)
            incident = CapacityDrop(at=at, duration=duration, servers=servers)
    table.finish()
    return incident


def parse_service(table: Table, incidents: list[Table]) -> Service:
    """``[service]`` and the ``[[incidents]]`` on its timeline."""
    with table.context():
        # No latency table: the Service default (exponential, mean 50 ms).
        latency = (
            _latency(table.table("latency")) if "latency" in table._data else Exponential(0.05)
        )
        service = Service(
            servers=table.integer("servers", 10),
            queue=table.integer("queue", None, minimum=0),
            latency=latency,
            error_rate=table.number("error_rate", 0.0),
            incidents=tuple(_incident(t) for t in incidents),
        )
    table.finish()
    return service


def parse_dependencies(root: Table) -> tuple[Dependency, ...]:
    """``[dependencies.NAME]`` tables: a service each, with ``share`` and its own ``incidents``."""
    table = root.table("dependencies")
    if not table._data:
        raise root.fail("dependencies", "at least one [dependencies.NAME] table", {})
    found = []
    for name in list(table._data):
        sub = table.table(name)
        share = sub.number("share", 1.0)
        incidents = sub.tables("incidents")
        service = parse_service(sub, incidents)
        with sub.context():
            found.append(Dependency(name=name, service=service, share=share))
    table.finish()
    return tuple(found)


def parse_contention(root: Table, cls: type[T]) -> T:
    """A ``kind = "contention"`` file: clients, runs, [network], [backoff]."""
    net, backoff = root.table("network"), root.table("backoff")
    fields: dict[str, Any] = {
        "name": root.string("name", "contention"),
        "description": root.string("description", ""),
        "seed": root.integer("seed", 1, minimum=0),
        "runs": root.integer("runs", 100),
        "clients": root.integers("clients", (10, 50, 100, 150, 190)),
        "variants": root.strings(
            "variants", ("none", "exponential", "equal", "full", "decorrelated")
        ),
        "network_mean": net.seconds("mean", 0.010),
        "network_sd": net.seconds("sd", 0.002),
        "base": backoff.seconds("base", 0.005, positive=True),
        "cap": backoff.seconds("cap", 2.0, positive=True),
    }
    net.finish()
    backoff.finish()
    root.finish()
    with root.context():
        return cls(**fields)

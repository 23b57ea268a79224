"""Simulate what a policy does in an outage before production does.

`brace.sim` runs the real policy objects against a modelled dependency in
virtual time (on a `brace.testing.VirtualEventLoop`) and reports, per
strategy, availability, latency, load on the dependency and time to recover.
``brace simulate`` on the command line is the quickest way in.

* Dependency: `Service` with `Constant`, `Exponential`, `LogNormal` or
  `Empirical` latency and incidents `Outage`, `Brownout`, `ErrorBurst`,
  `CapacityDrop`; several named `Dependency` entries when the service calls
  more than one, each request (a `Request` for one user) calling one of them.
* Load: `OpenLoop` (Poisson, with `Spike` windows) or `ClosedLoop`.
* `Scenario` ties them together; `load_scenario` reads a built-in or a TOML file.
* `simulate` runs it per strategy (built-in names or ``module:function``
  factories taking a `StrategyContext`) and returns a `SimulationResult`.
* `Contention` / `run_contention`: Brooker's backoff-and-jitter experiment.
"""

from brace import _public
from brace.sim._contention import ContentionPoint, ContentionResult, run_contention
from brace.sim._load import ClosedLoop, OpenLoop, Spike
from brace.sim._metrics import BreakerTransition, IncidentFigures, StrategyResult, TimelinePoint
from brace.sim._model import (
    Brownout,
    CapacityDrop,
    Constant,
    Dependency,
    DependencyError,
    Empirical,
    ErrorBurst,
    Exponential,
    LogNormal,
    Outage,
    OverloadedError,
    Request,
    Service,
)
from brace.sim._runner import SimulationResult, simulate
from brace.sim._scenario import (
    Contention,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
)
from brace.sim._strategies import (
    BUILTIN,
    DEFAULT_STRATEGIES,
    STATIC_ANSWER,
    StrategyContext,
    StrategyError,
)

__all__ = [
    "BUILTIN",
    "DEFAULT_STRATEGIES",
    "STATIC_ANSWER",
    "BreakerTransition",
    "Brownout",
    "CapacityDrop",
    "ClosedLoop",
    "Constant",
    "Contention",
    "ContentionPoint",
    "ContentionResult",
    "Dependency",
    "DependencyError",
    "Empirical",
    "ErrorBurst",
    "Exponential",
    "IncidentFigures",
    "LogNormal",
    "OpenLoop",
    "Outage",
    "OverloadedError",
    "Request",
    "Scenario",
    "ScenarioError",
    "Service",
    "SimulationResult",
    "Spike",
    "StrategyContext",
    "StrategyError",
    "StrategyResult",
    "TimelinePoint",
    "builtin_scenarios",
    "load_scenario",
    "run_contention",
    "simulate",
]

_public.publish(globals(), "brace.sim")

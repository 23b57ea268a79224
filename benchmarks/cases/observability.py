"""Telemetry rows: brace's own log on vs off, and what OpenTelemetry span events cost.

Each "log on" / "log off" pair runs the same breaker; the op sets the switch
before the call, so both rows pay the same for it. With no handler configured
(the default: the "brace" logger has only a NullHandler), the issue's bar is
success within 5 % and open rejection within 10 % of logging off.

When this module's cases are built it also registers a Prometheus
`BraceCollector` and OpenTelemetry instruments (metrics only) for the whole
run: they are read at collection time, so every other row, compared with
``benchmarks/compare.py --base main``, must come out unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import brace
from benchmarks._harness import Case
from benchmarks.cases.breaker import _opened, af, f
from brace._logging import SWITCH

G = "telemetry"
ON_OK = "closed success, brace log on (default)"
OFF_OK = "closed success, brace log off"
ON_OPEN = "open rejection, brace log on (default)"
OFF_OPEN = "open rejection, brace log off"


def _register_exporters() -> None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import CollectorRegistry

        from brace.integrations import otel
        from brace.integrations.prometheus import BraceCollector
    except ImportError:  # the bench extra without the dev extra: nothing to register
        return
    CollectorRegistry().register(BraceCollector())
    otel.instrument(meter_provider=MeterProvider(), span_events=False)


# Both rows of a pair set the switch and put the default back: the same two stores each,
# and every other row still runs with the log on, as users do.


def _switched(fn: Callable[[], object], on: bool) -> Callable[[], object]:
    def op() -> object:
        SWITCH.enabled = on
        try:
            return fn()
        except brace.CircuitOpenError:
            return None
        finally:
            SWITCH.enabled = True

    return op


def _aswitched(fn: Callable[[], Awaitable[object]], on: bool) -> Callable[[], Awaitable[object]]:
    async def op() -> object:
        SWITCH.enabled = on
        try:
            return await fn()
        except brace.CircuitOpenError:
            return None
        finally:
            SWITCH.enabled = True

    return op


def _span_events(breaker: brace.CircuitBreaker) -> Callable[[], object]:
    """The open breaker with the OTel span-event listener on it alone (no span is current)."""
    try:
        from brace.integrations import otel
    except ImportError:
        return _switched(breaker(f), on=True)
    breaker.listen(otel._on_event)
    return _switched(breaker(f), on=True)


def cases() -> list[Case]:
    _register_exporters()
    closed = brace.CircuitBreaker("bench-telemetry-closed")
    opened = _opened()
    traced = _opened()
    return [
        Case(G, ON_OK, _switched(closed(f), on=True), ref=OFF_OK),
        Case(G, OFF_OK, _switched(closed(f), on=False)),
        Case(G, ON_OPEN, _switched(opened(f), on=True), ref=OFF_OPEN),
        Case(G, OFF_OPEN, _switched(opened(f), on=False)),
        Case(G, "open rejection, OTel span events on", _span_events(traced), ref=ON_OPEN),
        Case(G, ON_OK, _aswitched(closed(af), on=True), "async", ref=OFF_OK),
        Case(G, OFF_OK, _aswitched(closed(af), on=False), "async"),
        Case(G, ON_OPEN, _aswitched(opened(af), on=True), "async", ref=OFF_OPEN),
        Case(G, OFF_OPEN, _aswitched(opened(af), on=False), "async"),
    ]

"""Prometheus and OpenTelemetry against the real libraries: values match metrics(), pull only."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import brace
from brace.integrations import otel
from brace.integrations.prometheus import BraceCollector
from brace.testing import VirtualClock
from tests.conftest import Driver


def boom() -> None:
    raise ConnectionError("refused")


def ok() -> str:
    return "ok"


class World:
    """A few named policies with some history, and the facts the exporters must report."""

    def __init__(self, tag: str, clock: VirtualClock) -> None:
        self.breaker = brace.CircuitBreaker(
            f"{tag}-pay", consecutive_failures=2, open_for=30, clock=clock
        )
        self.retry = brace.Retry(f"{tag}-retry", attempts=3, backoff=[0.0, 0.0], clock=clock)
        self.bulkhead = brace.Bulkhead(f"{tag}-pool", max_concurrent=4)
        self.limiter = brace.RateLimiter(f"{tag}-search", rate=1, per=60, clock=clock)
        self.timeout = brace.Timeout(1.0, name=f"{tag}-slow", clock=clock)
        for _ in range(3):
            self.breaker.call(ok)
        with pytest.raises(brace.CircuitOpenError):  # 2 failures trip, the 3rd is rejected
            brace.pipeline(self.retry, self.breaker).call(boom)
        for _ in range(4):
            with pytest.raises(brace.CircuitOpenError):
                self.breaker.call(ok)
        self.limiter.call(ok)
        with pytest.raises(brace.RateLimitedError):
            self.limiter.call(ok)


def test_prometheus_scrape_over_http_matches_metrics(clock: VirtualClock) -> None:
    world = World("prom", clock)
    registry = CollectorRegistry()
    registry.register(BraceCollector())
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            values[sample.name, frozenset(sample.labels.items())] = sample.value

    def value(metric: str, /, **labels: str) -> float:
        return values[metric, frozenset(labels.items())]

    metrics = world.breaker.metrics()
    pay = "prom-pay"
    assert value("brace_breaker_state", name=pay, state="OPEN") == 1.0
    assert value("brace_breaker_state", name=pay, state="CLOSED") == 0.0
    assert value(
        "brace_calls_total", policy="CircuitBreaker", name=pay, outcome="success"
    ) == float(metrics.calls_total - metrics.failures_total)
    assert value(
        "brace_calls_total", policy="CircuitBreaker", name=pay, outcome="failure"
    ) == float(metrics.failures_total)
    assert (
        metrics.calls_total - metrics.failures_total,
        metrics.failures_total,
        metrics.rejections_total,
    ) == (3, 2, 5)
    assert value("brace_rejections_total", policy="CircuitBreaker", name=pay) == 5.0
    assert value("brace_retries_total", policy="Retry", name="prom-retry") == 2.0
    assert value("brace_bulkhead_in_flight", name="prom-pool") == 0.0
    assert value("brace_bulkhead_queued", name="prom-pool") == 0.0
    assert value("brace_rate_limiter_rejections_total", name="prom-search") == 1.0
    assert value("brace_rejections_total", policy="RateLimiter", name="prom-search") == 1.0
    assert value("brace_timeouts_total", name="prom-slow") == 0.0
    assert types["brace_calls"] == "counter"  # the parser drops _total from family names
    assert types["brace_breaker_state"] == "gauge"


def test_the_collector_adds_nothing_to_the_hot_path() -> None:
    breaker = brace.CircuitBreaker("prom-idle")
    CollectorRegistry().register(BraceCollector())
    assert not breaker._listeners.active  # no listener: nothing is built or pushed per call


def test_policies_sharing_a_name_are_one_series(clock: VirtualClock) -> None:
    first = brace.Bulkhead("prom-twin", max_concurrent=2)
    second = brace.Bulkhead("prom-twin", max_concurrent=2)
    registry = CollectorRegistry()
    registry.register(BraceCollector())
    first._permits.free.pop()
    second._permits.free.pop()
    assert registry.get_sample_value("brace_bulkhead_in_flight", {"name": "prom-twin"}) == 2.0


@pytest.fixture
def tracing() -> Iterator[tuple[Any, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    provider.shutdown()


def test_otel_instruments_read_the_registry(clock: VirtualClock) -> None:
    world = World("otel", clock)
    reader = InMemoryMetricReader()
    handle = otel.instrument(meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        data = reader.get_metrics_data()
    finally:
        handle.uninstrument()
    points: dict[tuple[str, frozenset[tuple[str, Any]]], Any] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "brace"
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = frozenset((point.attributes or {}).items())
                    points[metric.name, attributes] = getattr(point, "value", None)
    metrics = world.breaker.metrics()
    assert points["brace.breaker.state", frozenset({("name", "otel-pay"), ("state", "OPEN")})] == 1
    assert (
        points[
            "brace.calls",
            frozenset({("policy", "CircuitBreaker"), ("name", "otel-pay"), ("outcome", "failure")}),
        ]
        == metrics.failures_total
    )
    key = frozenset({("policy", "CircuitBreaker"), ("name", "otel-pay")})
    assert points["brace.rejections", key] == metrics.rejections_total
    retry_key = frozenset({("policy", "Retry"), ("name", "otel-retry")})
    assert points["brace.retries", retry_key] == 2
    assert points["brace.bulkhead.in_flight", frozenset({("name", "otel-pool")})] == 0
    assert points["brace.rate_limiter.rejections", frozenset({("name", "otel-search")})] == 1


def test_otel_span_events_for_retries_rejections_fallbacks_and_state_changes(
    driver: Driver, clock: VirtualClock, tracing: tuple[Any, InMemorySpanExporter]
) -> None:
    tracer, exporter = tracing
    breaker = brace.CircuitBreaker("span-pay", consecutive_failures=2, clock=clock)
    policy = brace.pipeline(
        brace.Fallback(["cached"], name="span-fallback"),
        brace.Retry("span-retry", attempts=3, backoff=[0.0, 0.0], clock=clock),
        breaker,
    )
    handle = otel.instrument(meter_provider=MeterProvider())
    try:
        with tracer.start_as_current_span("request"):
            assert driver.run(policy, boom) == "cached"
        assert driver.run(policy, boom) == "cached"  # no current span: nothing recorded
    finally:
        handle.uninstrument()
    (span,) = exporter.get_finished_spans()
    assert [(e.name, (e.attributes or {})["brace.policy"]) for e in span.events] == [
        ("brace.retry", "span-retry"),
        ("brace.state_change", "span-pay"),
        ("brace.retry", "span-retry"),
        ("brace.rejection", "span-pay"),
        ("brace.fallback", "span-fallback"),
    ]
    change = span.events[1].attributes
    assert change is not None
    assert (
        change["brace.old"],
        change["brace.new"],
        change["brace.reason"],
    ) == ("CLOSED", "OPEN", "2 consecutive failures")
    assert not breaker._listeners.active  # uninstrument() removed the listener


def test_record_resend_is_the_http_integrations_seam(
    tracing: tuple[Any, InMemorySpanExporter],
) -> None:
    tracer, exporter = tracing
    with tracer.start_as_current_span("before"):
        otel.record_resend(1)  # not instrumented: nothing set
    handle = otel.instrument(meter_provider=MeterProvider(), span_events=False)
    try:
        with tracer.start_as_current_span("first"):
            otel.record_resend(0)  # the first attempt carries no count
        with tracer.start_as_current_span("resent"):
            otel.record_resend(2)
        otel.record_resend(3)  # no current span: nothing to set, no error
    finally:
        handle.uninstrument()
    spans = {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}
    assert spans == {"before": {}, "first": {}, "resent": {"http.request.resend_count": 2}}


def test_request_hook_marks_each_resent_attempt_through_the_httpx_integration(
    tracing: tuple[Any, InMemorySpanExporter],
) -> None:
    import httpx

    from brace.integrations.httpx import ResilientTransport

    tracer, exporter = tracing
    answers = iter([503, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        # What an HTTP client instrumentation does per attempt: a span, then its request hook.
        with tracer.start_as_current_span("attempt") as span:
            otel.request_hook(span, request)
            return httpx.Response(next(answers))

    policy = brace.Retry("hook-retry", attempts=3, backoff=[0.0, 0.0], on=brace.http.is_transient)
    transport = ResilientTransport(policy, transport=httpx.MockTransport(handler))
    with httpx.Client(transport=transport) as client:
        assert client.get("http://svc.test/x").status_code == 200
    counts = [
        (s.attributes or {}).get("http.request.resend_count") for s in exporter.get_finished_spans()
    ]
    assert counts == [None, 1, 2]

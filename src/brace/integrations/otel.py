"""OpenTelemetry for brace's policies (extra ``brace[otel]``): metrics, span events, HTTP resends.

`instrument` registers observable instruments (read from `brace.status()`
when the SDK collects: pull, nothing on a call's path) and, unless
``span_events=False``, adds an event to the current span for each retry,
rejection, fallback, timeout, give-up and breaker state change::

    from brace.integrations import otel

    otel.instrument()  # the global meter provider; or meter_provider=...

Instruments (names ``brace.*``; attributes ``policy`` = type, ``name``):
``brace.breaker.state`` (gauge, attribute ``state``, 1 for the current),
``brace.breaker.failure_rate``, ``brace.breaker.slow_rate``, ``brace.calls``
(attribute ``outcome``), ``brace.slow_calls``, ``brace.rejections``,
``brace.retries``, ``brace.give_ups``, ``brace.bulkhead.in_flight``,
``brace.bulkhead.queued``, ``brace.rate_limiter.rejections``, ``brace.timeouts``.

This module imports OpenTelemetry only inside `instrument`, so code that may
run without it (brace's HTTP integrations) can call `record_resend` freely.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from brace._events import (
    BulkheadFull,
    CallRejected,
    Event,
    FallbackUsed,
    GaveUp,
    RetryScheduled,
    StateChanged,
    Subscription,
    TimedOut,
    listen,
)
from brace.integrations._samples import METRICS, Metric, samples

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

__all__ = [
    "RESEND_COUNT",
    "Instrumentation",
    "instrument",
    "record_resend",
    "request_hook",
    "span_event",
]

#: The OpenTelemetry HTTP semantic convention attribute for a resent request.
RESEND_COUNT = "http.request.resend_count"
"""The OpenTelemetry HTTP attribute: how many times this request was sent before."""

_LOCK = threading.Lock()
_ACTIVE: list[Instrumentation] = []  # instrumentations not yet undone


Attributes = dict[str, str | int | float]


def _retry(event: RetryScheduled, attrs: Attributes) -> str:
    attrs |= {"brace.attempt": event.attempt, "brace.delay": event.delay}
    if event.exception is not None:
        attrs["brace.exception"] = event.exception
    return "brace.retry"


def _rejected(event: CallRejected, attrs: Attributes) -> str:
    attrs["brace.reason"] = event.reason
    if event.retry_after is not None:
        attrs["brace.retry_after"] = event.retry_after
    return "brace.rejection"


def _full(event: BulkheadFull, attrs: Attributes) -> str:
    attrs |= {"brace.reason": "bulkhead full", "brace.in_flight": event.in_flight}
    return "brace.rejection"


def _fallback(event: FallbackUsed, attrs: Attributes) -> str:
    attrs["brace.level"] = event.level
    if event.exception is not None:
        attrs["brace.exception"] = event.exception
    return "brace.fallback"


def _changed(event: StateChanged, attrs: Attributes) -> str:
    attrs |= {"brace.old": event.old, "brace.new": event.new, "brace.reason": event.reason}
    return "brace.state_change"


def _timed_out(event: TimedOut, attrs: Attributes) -> str:
    attrs |= {"brace.timeout": event.timeout, "brace.source": event.source}
    return "brace.timeout"


def _gave_up(event: GaveUp, attrs: Attributes) -> str:
    attrs |= {"brace.reason": event.reason, "brace.attempts": event.attempts}
    return "brace.give_up"


# Which events become span events, and how: fills the attributes, returns the event name.
_SPAN_EVENTS: dict[type[Event], Callable[[Any, Attributes], str]] = {
    RetryScheduled: _retry,
    CallRejected: _rejected,
    BulkheadFull: _full,
    FallbackUsed: _fallback,
    StateChanged: _changed,
    TimedOut: _timed_out,
    GaveUp: _gave_up,
}


def span_event(event: Event) -> tuple[str, Attributes] | None:
    """The span event (name, attributes) for a brace ``event``, or None if it has none."""
    fill = _SPAN_EVENTS.get(type(event))
    if fill is None:
        return None
    attrs: Attributes = {"brace.policy": event.policy}
    return fill(event, attrs), attrs


class Instrumentation:
    """What `instrument` set up; `uninstrument` undoes it (idempotent)."""

    def __init__(self) -> None:
        self.closed = False
        self.subscription: Subscription | None = None

    def uninstrument(self) -> None:
        """Stop the span events and make the instruments report nothing from now on."""
        self.closed = True
        if self.subscription is not None:
            self.subscription.remove()
        with _LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)


def _observer(
    metric: Metric, handle: Instrumentation
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    from opentelemetry.metrics import Observation  # noqa: PLC0415 - optional dependency

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        del options  # no timeout to honour: reading the registry is quick
        if handle.closed:
            return []
        series = samples()[metric]
        counter = metric.kind == "counter"
        return [
            Observation(
                int(value) if counter else value, dict(zip(metric.labels, key, strict=True))
            )
            for key, value in series.items()
        ]

    return observe


def _on_event(event: Event) -> None:
    from opentelemetry import trace  # noqa: PLC0415 - optional dependency

    span = trace.get_current_span()
    if not span.is_recording():
        return
    found = span_event(event)
    if found is not None:
        span.add_event(*found)


def instrument(
    meter_provider: MeterProvider | None = None,
    tracer_provider: TracerProvider | None = None,
    *,
    span_events: bool = True,
) -> Instrumentation:
    """Report brace's policies to OpenTelemetry: observable instruments and span events.

    Args:
        meter_provider: Where the instruments live. Default: the global one.
        tracer_provider: Accepted as OpenTelemetry instrumentors accept it;
            brace starts no span of its own, so span events go to the span
            that is current when the policy acts, whichever provider made it.
        span_events: Add an event to the current (recording) span for each
            retry, rejection, fallback, timeout, give-up and state change.
            This is a listener: events are then built for every policy, which
            costs a rejection about a microsecond; False keeps calls untouched.
            Default True.

    Returns:
        An `Instrumentation` whose ``uninstrument()`` undoes this.

    Raises:
        ImportError: opentelemetry-api is not installed (``pip install 'brace[otel]'``).
    """
    try:
        from opentelemetry import metrics  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "brace.integrations.otel needs opentelemetry-api: pip install 'brace[otel]'"
        ) from exc
    del tracer_provider  # see the docstring: span events use the current span
    provider = metrics.get_meter_provider() if meter_provider is None else meter_provider
    meter = provider.get_meter("brace")
    handle = Instrumentation()
    for metric in METRICS:
        create: Any = (
            meter.create_observable_counter
            if metric.kind == "counter"
            else meter.create_observable_gauge
        )
        create(
            metric.otel,
            callbacks=[_observer(metric, handle)],
            unit=metric.unit,
            description=metric.help,
        )
    if span_events:
        handle.subscription = listen(_on_event)
    with _LOCK:
        _ACTIVE.append(handle)
    return handle


def record_resend(resend_count: int | None = None, span: Span | None = None) -> None:
    """Mark an HTTP attempt's span with ``http.request.resend_count`` when it is a resend.

    Sets the attribute (OpenTelemetry's HTTP semantic conventions) when the
    count is at least 1: the first attempt carries none.

    Args:
        resend_count: Attempts made before this one. Default: read from the
            request brace's HTTP integration is sending
            (`brace.http.current_request`); nothing happens outside one.
        span: The attempt's span. Default: the current span, and only while
            `instrument` is in effect, so a library may call this freely.
    """
    if span is None and not _ACTIVE:
        return
    if resend_count is None:
        from brace._http_request import current_request  # noqa: PLC0415 - only when asked

        request = current_request()
        resend_count = 0 if request is None else request.resend_count
    if resend_count < 1:
        return
    if span is None:
        from opentelemetry import trace  # noqa: PLC0415 - optional dependency

        span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(RESEND_COUNT, resend_count)


def request_hook(span: Span, *_: object) -> None:
    """A request hook for OpenTelemetry's HTTP client instrumentations (httpx, requests, aiohttp).

    Their hooks run inside each attempt's span, inside brace's retries, so
    the span of a resent request gets ``http.request.resend_count``::

        HTTPXClientInstrumentor().instrument(request_hook=otel.request_hook)
    """
    record_resend(span=span)

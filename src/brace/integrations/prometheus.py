"""A prometheus_client collector for brace's policies (extra ``brace[prometheus]``).

`BraceCollector` reads `brace.status()` when Prometheus scrapes, so the
calls being protected pay nothing for it::

    from prometheus_client import REGISTRY
    from brace.integrations.prometheus import BraceCollector

    REGISTRY.register(BraceCollector())

Metrics (counters end in ``_total``; label ``policy`` is the policy type,
``name`` its name): ``brace_breaker_state{name,state}`` (1 for the current
state), ``brace_breaker_failure_rate{name}``, ``brace_breaker_slow_rate{name}``,
``brace_calls_total{policy,name,outcome}``, ``brace_slow_calls_total``,
``brace_rejections_total{policy,name}``, ``brace_retries_total{policy,name}``,
``brace_give_ups_total{policy,name}``, ``brace_bulkhead_in_flight{name}``,
``brace_bulkhead_queued{name}``, ``brace_rate_limiter_rejections_total{name}``,
``brace_timeouts_total{name}``.
"""

from __future__ import annotations

from collections.abc import Iterator

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "brace.integrations.prometheus needs prometheus_client: pip install 'brace[prometheus]'"
    ) from exc

from brace.integrations._samples import METRICS, samples
from brace.integrations._samples import Metric as BraceMetric

__all__ = ["BraceCollector"]


def _family(metric: BraceMetric) -> CounterMetricFamily | GaugeMetricFamily:
    if metric.kind == "counter":
        return CounterMetricFamily(metric.prometheus, metric.help, labels=metric.labels)
    return GaugeMetricFamily(metric.prometheus, metric.help, labels=metric.labels)


class BraceCollector(Collector):
    """Exposes every named brace policy to Prometheus, read at scrape time.

    Register it once per registry: ``REGISTRY.register(BraceCollector())``.
    Only policies given a name are exported (see `brace.policies`).
    """

    def describe(self) -> Iterator[Metric]:
        """The metric families, without samples (prometheus_client checks names with it)."""
        for metric in METRICS:
            yield _family(metric)

    def collect(self) -> Iterator[Metric]:
        """One family per metric, with a sample per policy, read from `brace.status()` now."""
        for metric, series in samples().items():
            family = _family(metric)
            for labels, value in series.items():
                family.add_metric(list(labels), value)
            yield family

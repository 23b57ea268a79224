"""See brace in production: its log, Prometheus, OpenTelemetry, the status page.

A payments client whose dependency goes down: the breaker opens, retries give
up, rejections pile up, and each window onto it shows that. Needs
``pip install 'brace[prometheus,otel]' opentelemetry-sdk uvicorn`` (all in the
dev extra).

Run: python docs/examples/observability.py          prints what each one shows
     python docs/examples/observability.py --serve  also serves the status page
                                                    on http://127.0.0.1:8000/brace/
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest

import brace
from brace.integrations import otel
from brace.integrations.asgi import status_app
from brace.integrations.prometheus import BraceCollector


class WithFields(logging.Formatter):
    """The usual line, then brace's structured fields (what a JSON formatter would keep)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k.startswith("brace_")}
        return (
            f"{super().format(record)}  {json.dumps(fields)}" if fields else super().format(record)
        )


breaker = brace.CircuitBreaker("payments", consecutive_failures=3, open_for=30)
charge_policy = brace.pipeline(
    brace.Retry("payments-retry", attempts=2, backoff=[0.01]),
    breaker,
    brace.Bulkhead("payments-pool", max_concurrent=10),
)


@charge_policy
def charge(order: str) -> str:
    raise ConnectionError(f"payments is down (order {order})")


def main() -> dict[str, Any]:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(WithFields("%(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger("brace").addHandler(handler)
    logging.getLogger("brace").setLevel(logging.INFO)

    registry = CollectorRegistry()
    registry.register(BraceCollector())
    reader = InMemoryMetricReader()
    instrumentation = otel.instrument(meter_provider=MeterProvider(metric_readers=[reader]))

    print("== brace's log")
    outcomes = []
    for n in range(8):
        try:
            charge(f"o-{n}")
        except (ConnectionError, brace.CircuitOpenError) as exc:
            outcomes.append(type(exc).__name__)

    print("\n== Prometheus (brace_breaker_state and brace_calls_total)")
    scrape = generate_latest(registry).decode()
    for line in scrape.splitlines():
        if line.startswith(("brace_breaker_state{", "brace_calls_total{")):
            print(line)

    print("\n== OpenTelemetry instruments")
    data = reader.get_metrics_data()
    names = sorted(
        m.name
        for rm in (data.resource_metrics if data else [])
        for sm in rm.scope_metrics
        for m in sm.metrics
    )
    print(", ".join(names))
    instrumentation.uninstrument()

    print("\n== brace.status() (what GET /status.json serves)")
    entry = [e for e in brace.status()["policies"] if e["name"] == "payments"][-1]  # newest
    print(json.dumps({k: entry[k] for k in ("policy", "name", "state", "transitions")}, indent=2))
    logging.getLogger("brace").removeHandler(handler)
    return {"outcomes": outcomes, "scrape": scrape, "otel": names, "status": entry}


if __name__ == "__main__":
    main()
    if "--serve" in sys.argv:
        import uvicorn

        token = secrets.token_urlsafe()
        print(f"\nstatus page: http://127.0.0.1:8000/brace/  control token: {token}")

        page = status_app(control_token=token)

        async def site(scope: Any, receive: Any, send: Any) -> None:
            """A bare ASGI site with the page mounted at /brace (FastAPI: app.mount)."""
            if scope["type"] == "http" and scope["path"].startswith("/brace"):
                scope = {**scope, "root_path": "/brace"}
            await page(scope, receive, send)

        uvicorn.run(site, host="127.0.0.1", port=8000)

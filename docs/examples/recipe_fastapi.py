"""Recipe: a FastAPI service that calls two dependencies through httpx, resiliently.

Run: python docs/examples/recipe_fastapi.py  (needs fastapi, uvicorn and httpx)

The product page needs the catalog (no page without it) and the prices (the
page can show without one). Each dependency gets its own pooled
``httpx.AsyncClient`` whose requests all go through ``brace.http.standard``;
each page request runs under a deadline, the caller's or 2 s. The demo serves
the app with uvicorn on 127.0.0.1, against two real local servers that fail
on demand (fake_services.py), and prints what a caller gets.
"""

# The service's imports open the part the recipe page shows, after the demo's: not sorted as one.
# ruff: noqa: I001

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from fake_services import FakeService

# --8<-- [start:service]
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request

import brace
from brace.integrations.deadlines import DeadlineMiddleware
from brace.integrations.httpx import AsyncResilientTransport


def resilient_client(name: str, base_url: str, **overrides: Any) -> httpx.AsyncClient:
    """One pooled client per dependency: every request goes through its own standard pipeline."""
    transport = AsyncResilientTransport(policy=brace.http.standard(name, **overrides))
    return httpx.AsyncClient(base_url=base_url, transport=transport)


def create_app(catalog_url: str, prices_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            resilient_client("catalog", catalog_url, attempt_timeout=0.5) as catalog,
            resilient_client("prices", prices_url, attempt_timeout=0.3) as prices,
        ):
            app.state.catalog, app.state.prices = catalog, prices
            yield

    app = FastAPI(lifespan=lifespan)
    # Each request gets a deadline: the caller's X-Request-Timeout, else 2 s, at most 5 s.
    app.add_middleware(DeadlineMiddleware, default=2.0, max_seconds=5.0)
    app.include_router(router)
    return app


router = APIRouter()


async def product_of(catalog: httpx.AsyncClient, sku: str) -> dict[str, Any]:
    response = await catalog.get(f"/products/{sku}")
    if response.status_code == 404:  # an answer: not retried, not a failure of the catalog
        raise HTTPException(404, f"no product {sku}")
    response.raise_for_status()  # a 5xx that the retries could not fix
    return response.json()


last_prices = brace.LastGood(max_age=600, key=lambda _prices, sku: sku)


@brace.Fallback([last_prices, None])  # the last good price, else a page without one
async def price_of(prices: httpx.AsyncClient, sku: str) -> dict[str, Any] | None:
    response = await prices.get(f"/prices/{sku}")
    response.raise_for_status()
    return response.json()


@router.get("/products/{sku}")
async def product_page(sku: str, request: Request) -> dict[str, Any]:
    state = request.app.state
    try:
        async with asyncio.TaskGroup() as group:  # both at once; a failure cancels the other
            product = group.create_task(product_of(state.catalog, sku))
            price = group.create_task(price_of(state.prices, sku))
    except* HTTPException as errors:
        raise errors.exceptions[0] from None
    except* (httpx.HTTPError, brace.RejectedError) as errors:
        # Retries used up, the deadline passed or the catalog's breaker is open: fail fast.
        raise HTTPException(503, "catalog unavailable") from errors.exceptions[0]
    return {"sku": sku, **product.result(), "price": price.result()}


# --8<-- [end:service]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yield its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        listener.close()


def main() -> None:
    with (
        FakeService(lambda _path: {"name": "Umbrella"}) as catalog,
        FakeService(lambda _path: {"amount": 12.5, "currency": "EUR"}) as prices,
        serve(create_app(catalog.url, prices.url)) as url,
        httpx.Client(base_url=url) as caller,
    ):

        def page(
            label: str,
            counted: FakeService,
            sku: str = "sku-1",
            within: float = 2.0,
            **headers: str,
        ) -> None:
            sent = counted.requests
            started = time.perf_counter()
            response = caller.get(f"/products/{sku}", headers=headers)
            elapsed = time.perf_counter() - started
            print(f"{label}: {response.status_code} {response.json()}")
            name = "catalog" if counted is catalog else "prices"
            print(f"    requests to {name}: {counted.requests - sent}; within {within} s:", end=" ")
            print("yes" if elapsed < within else f"no, {elapsed:.2f} s")

        page("healthy", prices)
        prices.set("503")
        page("prices answer 503", prices)
        prices.set("hang")
        allows = {"X-Request-Timeout": "0.25"}  # what brace's clients send as deadline_header=
        page("prices hang, the caller allows 0.25 s", prices, within=0.5, **allows)
        prices.set("ok")
        catalog.set("404")
        page("unknown product", catalog, sku="sku-404")
        catalog.set("drop")
        page("catalog drops connections", catalog)


if __name__ == "__main__":
    main()

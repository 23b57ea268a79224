"""The status page in a real browser: served by uvicorn, opened in headless Chromium.

The test trips a breaker and watches the page change colour and text without
a reload, takes a screenshot (``BRACE_UPDATE_DOCS_IMAGES=1`` writes it to
``docs/img/status-page.png`` for the guide), checks that the console stayed
clean and that control without the token changes nothing, then uses the
page's own Reset button with the token. Chromium: see `tests.browser`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import brace
from brace.integrations.asgi import ASGIApp, Receive, Scope, Send, status_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright_or_skip

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token-for-tests"  # noqa: S105 - a test fixture, not a secret


def mounted(app: ASGIApp, prefix: str) -> ASGIApp:
    """A site with ``app`` mounted at ``prefix`` the way Starlette's Mount does it."""

    async def site(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope["path"].startswith(prefix):
            await app({**scope, "root_path": prefix}, receive, send)
            return
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return site


@pytest.fixture
def server() -> Iterator[str]:
    """uvicorn on 127.0.0.1 (a free port), serving the status page at /brace."""
    app = mounted(status_app(control_token=TOKEN, refresh=0.2), "/brace")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):
        if srv.started:
            started.set()
            break
        started.wait(0.02)
    assert srv.started, "uvicorn did not start"
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/brace"
    finally:
        srv.should_exit = True
        thread.join(timeout=5)


def post(url: str, token: str | None = None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, method="POST", headers=headers)  # noqa: S310 - local
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def boom() -> None:
    raise ConnectionError("refused")


def test_the_page_follows_a_breaker_live_in_chromium(server: str, tmp_path: Path) -> None:
    sync_playwright = sync_playwright_or_skip()

    breaker = brace.CircuitBreaker("checkout", failure_rate=0.5, minimum_calls=4, open_for=60)
    bulkhead = brace.Bulkhead("checkout-pool", max_concurrent=8, max_queue=4, max_wait=0.5)
    retry = brace.Retry("checkout-retry", attempts=3, backoff=[0.0, 0.0])
    limiter = brace.RateLimiter("search", rate=50)
    recommendations = brace.CircuitBreaker("recommendations", failure_rate=0.5, minimum_calls=10)
    for index in range(40):
        with contextlib.suppress(ConnectionError):
            recommendations.call(boom if index % 6 == 0 else lambda: "ok")
    for _ in range(6):
        breaker.call(lambda: "ok")
    keep: list[Any] = [bulkhead, retry, limiter, recommendations]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 640})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(server)  # no trailing slash: redirected to /brace/
        badge = page.locator('section[data-name="checkout"] .state')
        badge.filter(has_text="CLOSED").wait_for(timeout=5000)
        closed_colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")

        for _ in range(4):  # 4 failures of 10 calls: 40%, then 5 of 11, 6 of 12: trips
            with pytest.raises(ConnectionError):
                breaker.call(boom)
        with pytest.raises(brace.CircuitOpenError):  # the retry fails fast once it trips
            brace.pipeline(retry, breaker).call(boom)
        assert breaker.state.name == "OPEN"

        badge.filter(has_text="OPEN").wait_for(timeout=5000)  # no reload: the page polls
        open_colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
        assert open_colour != closed_colour
        card = page.locator('section[data-name="checkout"]')
        assert "CLOSED \u2192 OPEN" in card.inner_text()
        assert "failure rate 50% >= 50% over 12 calls" in card.inner_text()
        shot = page.screenshot(full_page=True)
        (tmp_path / "status-page.png").write_bytes(shot)
        if os.environ.get("BRACE_UPDATE_DOCS_IMAGES") == "1":
            (ROOT / "docs" / "img" / "status-page.png").write_bytes(shot)

        # Control without the token (or with a wrong one) changes nothing.
        assert post(f"{server}/policies/checkout/reset") == 403
        assert post(f"{server}/policies/checkout/reset", "wrong") == 403
        assert breaker.state.name == "OPEN"
        assert TOKEN not in page.content()

        # The page's own button, with the token typed in, resets it.
        page.fill("#token", TOKEN)
        card.get_by_role("button", name="Reset").click()
        badge.filter(has_text="CLOSED").wait_for(timeout=5000)
        assert breaker.state.name == "CLOSED"
        browser.close()
    assert problems == []
    del keep

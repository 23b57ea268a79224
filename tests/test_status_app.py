"""The status apps' routes, ASGI and WSGI alike: page, JSON, control only with the token."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

import brace
from brace.integrations import asgi, wsgi

TOKEN = "tok-3f9a-long-enough"  # noqa: S105 - a test fixture, not a secret

Answer = tuple[int, dict[str, str], bytes]
Client = Callable[..., Answer]


def asgi_client(app: asgi.ASGIApp) -> Client:
    def request(method: str, path: str, auth: str | None = None, root: str = "") -> Answer:
        headers = [] if auth is None else [(b"authorization", auth.encode())]
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": root,
            "headers": headers,
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
        start, body = sent
        names = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], names, body["body"]

    return request


def wsgi_client(app: wsgi.WSGIApp) -> Client:
    def request(method: str, path: str, auth: str | None = None, root: str = "") -> Answer:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path.encode().decode("latin-1"),  # as a WSGI server passes it
            "SCRIPT_NAME": root,
        }
        if auth is not None:
            environ["HTTP_AUTHORIZATION"] = auth
        seen: list[Any] = []
        body = b"".join(app(environ, lambda status, headers: seen.append((status, headers))))
        status, headers = seen[0]
        return int(status.split()[0]), {k.lower(): v for k, v in headers}, body

    return request


@pytest.fixture(params=["asgi", "wsgi"])
def make(request: pytest.FixtureRequest) -> Callable[..., Client]:
    def build(**kwargs: Any) -> Client:
        if request.param == "asgi":
            return asgi_client(asgi.status_app(**kwargs))
        # Strip the mount like a WSGI dispatcher does: SCRIPT_NAME takes the prefix.
        client = wsgi_client(wsgi.status_app(**kwargs))

        def stripped(method: str, path: str, auth: str | None = None, root: str = "") -> Answer:
            return client(method, path.removeprefix(root) if root else path, auth, root)

        return stripped

    return build


def test_the_page_is_self_contained_and_its_inline_code_allowed_by_hash(
    make: Callable[..., Client],
) -> None:
    status, headers, body = make(control_token=TOKEN)("GET", "/")
    page = body.decode()
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    assert TOKEN not in page
    assert '<meta name="brace-control" content="on">' in page
    csp = headers["content-security-policy"]
    for tag in ("script", "style"):
        (code,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["cache-control"] == "no-store"


def test_status_json_serves_brace_status(make: Callable[..., Client]) -> None:
    breaker = brace.CircuitBreaker("app-json", consecutive_failures=1)
    breaker.force_open()
    status, headers, body = make()("GET", "/status.json")
    assert (status, headers["content-type"]) == (200, "application/json")
    (entry,) = [e for e in json.loads(body)["policies"] if e["name"] == "app-json"]
    assert entry["state"] == "FORCED_OPEN"


def test_mounted_under_a_prefix_with_or_without_the_prefix_in_the_path(
    make: Callable[..., Client],
) -> None:
    client = make()
    status, headers, _ = client("GET", "/brace", root="/brace")
    assert (status, headers["location"]) == (308, "/brace/")
    assert client("GET", "/brace/status.json", root="/brace")[0] == 200
    assert client("GET", "/brace/", root="/brace")[0] == 200


def test_without_a_control_token_control_does_not_exist(make: Callable[..., Client]) -> None:
    breaker = brace.CircuitBreaker("app-nocontrol")
    client = make()
    for auth in (None, f"Bearer {TOKEN}", "Bearer "):
        assert client("POST", "/policies/app-nocontrol/force_open", auth)[0] == 404
    assert breaker.state is brace.State.CLOSED
    assert '<meta name="brace-control" content="off">' in client("GET", "/")[2].decode()


def test_control_needs_the_bearer_token_and_nothing_changes_without_it(
    make: Callable[..., Client],
) -> None:
    breaker = brace.CircuitBreaker("app-control")
    client = make(control_token=TOKEN)
    path = "/policies/app-control/force_open"
    for auth in (None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer"):
        status, headers, _ = client("POST", path, auth)
        assert (status, headers["www-authenticate"]) == (403, 'Bearer realm="brace"'), auth
    assert breaker.state is brace.State.CLOSED
    assert client("GET", path, f"Bearer {TOKEN}")[0] == 405
    assert client("POST", "/policies/app-control/explode", f"Bearer {TOKEN}")[0] == 404
    assert client("POST", "/policies/nobody-has-this-name/reset", f"Bearer {TOKEN}")[0] == 404
    for action, state in [
        ("force_open", "FORCED_OPEN"),
        ("disable", "DISABLED"),
        ("reset", "CLOSED"),
    ]:
        status, _, body = client("POST", f"/policies/app-control/{action}", f"bearer {TOKEN}")
        assert (200, state) == (status, json.loads(body)["policies"][0]["state"])
        assert breaker.state.name == state


def test_control_finds_names_with_slashes_and_non_ascii(make: Callable[..., Client]) -> None:
    breaker = brace.CircuitBreaker("pay/eu-€")
    client = make(control_token=TOKEN)
    assert client("POST", "/policies/pay/eu-€/force_open", f"Bearer {TOKEN}")[0] == 200
    assert breaker.state is brace.State.FORCED_OPEN


def test_head_wrong_methods_and_unknown_paths(make: Callable[..., Client]) -> None:
    client = make()
    status, headers, body = client("HEAD", "/")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) == 0
    status, headers, _ = client("POST", "/status.json")
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert client("GET", "/admin")[0] == 404


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"control_token": ""}, "control_token=<hidden>"),
        ({"control_token": "has space"}, "without spaces"),
        ({"control_token": 12345}, "control_token=12345"),
        ({"refresh": 0}, "refresh=0"),
        ({"refresh": float("nan")}, "refresh=nan"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, Any], match: str) -> None:
    for factory in (asgi.status_app, wsgi.status_app):
        with pytest.raises(brace.ConfigError, match=match):
            factory(**kwargs)


def test_the_asgi_app_speaks_lifespan_and_ignores_websockets() -> None:
    app = asgi.status_app()
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    asyncio.run(app({"type": "websocket", "path": "/"}, receive, send))  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]

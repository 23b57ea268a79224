"""The status page as an ASGI app: mount it in FastAPI, Starlette, Django (ASGI), or serve it.

::

    from brace.integrations.asgi import status_app

    app.mount("/brace", status_app())  # FastAPI / Starlette

``GET /`` is the live page, ``GET /status.json`` is `brace.status()`; with
``control_token=`` set, ``POST /policies/{name}/force_open|disable|reset``
acts on the circuit breakers of that name for requests carrying
``Authorization: Bearer <token>`` (see `brace.integrations.wsgi` for WSGI).
It needs no dependency: it is a plain ASGI 3 callable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from brace.integrations._status_http import StatusPages, decode_headers, relative

__all__ = ["ASGIApp", "status_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI application: what `status_app` returns, to mount in any ASGI framework."""


async def _lifespan(receive: Receive, send: Send) -> None:
    """Served on its own (``uvicorn module:app``), the app has nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def status_app(*, control_token: str | None = None, refresh: float = 2.0) -> ASGIApp:
    """An ASGI app serving brace's status page, its JSON, and (with a token) control.

    Args:
        control_token: Enables ``POST /policies/{name}/force_open|disable|reset``
            for requests with ``Authorization: Bearer <control_token>``; without
            it those routes do not exist (404), and a wrong or missing token
            gets 403, changing nothing. Use a long random value
            (``secrets.token_urlsafe()``). Default None.
        refresh: Seconds between the page's refreshes, 0.1 to 3600. Default 2.0.

    Raises:
        ConfigError: a bad ``control_token`` or ``refresh``.
    """
    pages = StatusPages(control_token=control_token, refresh=refresh)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here: returning closes the connection
        base = scope.get("root_path", "")
        headers = decode_headers(scope.get("headers", []))
        response = pages.handle(
            scope["method"], relative(scope["path"], base), headers.get("authorization"), base
        )
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in [
                        *response.headers,
                        ("Content-Length", str(len(response.body))),
                    ]
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    return app

"""The status page as a WSGI app: mount it in Flask, Django (WSGI) or any WSGI server.

::

    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from brace.integrations.wsgi import status_app

    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/brace": status_app()})  # Flask

The routes and ``control_token`` are those of `brace.integrations.asgi.status_app`.
It needs no dependency: it is a plain WSGI callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from brace.integrations._status_http import StatusPages

__all__ = ["WSGIApp", "status_app"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
"""A WSGI application: what `status_app` returns, to mount in any WSGI framework."""


def _path(environ: dict[str, Any]) -> str:
    """PATH_INFO as text: WSGI carries the URL's bytes as latin-1; names are UTF-8."""
    raw: str = environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def status_app(*, control_token: str | None = None, refresh: float = 2.0) -> WSGIApp:
    """A WSGI app serving brace's status page, its JSON, and (with a token) control.

    Args:
        control_token: As for `brace.integrations.asgi.status_app`. Default None.
        refresh: Seconds between the page's refreshes, 0.1 to 3600. Default 2.0.

    Raises:
        ConfigError: a bad ``control_token`` or ``refresh``.
    """
    pages = StatusPages(control_token=control_token, refresh=refresh)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = pages.handle(
            environ.get("REQUEST_METHOD", "GET"),
            _path(environ),
            environ.get("HTTP_AUTHORIZATION"),
            environ.get("SCRIPT_NAME", ""),
        )
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {response.reason}", headers)
        return [response.body]

    return app

"""The status page's requests and answers, shared by the ASGI and WSGI apps (sans-I/O).

`StatusPages.handle` maps a method, a path (relative to where the app is
mounted) and an ``Authorization`` header to a `Response`; the ASGI and WSGI
modules only carry bytes. Routes:

* ``GET /``: the page, one self-contained HTML document (no CDN) that polls
  ``status.json`` and redraws itself;
* ``GET /status.json``: `brace.status()`;
* ``POST /policies/{name}/force_open|disable|reset``: only when a control
  token was given, only with ``Authorization: Bearer <token>`` (compared in
  constant time); otherwise 404 (no control) or 403, and nothing changes.
  It acts on every circuit breaker of that name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import importlib.resources
import json
import math
import re
from dataclasses import dataclass, field

from brace._breaker import CircuitBreaker
from brace._errors import ConfigError
from brace._status import entry, status
from brace._telemetry import policies

__all__ = ["ACTIONS", "Response", "StatusPages"]

#: The control actions, each a `CircuitBreaker` method of the same name.
ACTIONS = ("force_open", "disable", "reset")

_COMMON = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]


@dataclass(frozen=True, slots=True)
class Response:
    """An answer: status code, headers (names and values as str) and body."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """The reason phrase for ``status``."""
        return _REASONS.get(self.status, "")


_REASONS = {
    200: "OK",
    308: "Permanent Redirect",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}


def _json(status_code: int, data: object, extra: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, allow_nan=False, default=repr).encode()
    headers = [("Content-Type", "application/json"), *_COMMON, *(extra or [])]
    return Response(status_code, body, headers)


def _error(status_code: int, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    return _json(status_code, {"error": message}, extra)


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def _load_page() -> tuple[str, str]:
    """The page template and its Content-Security-Policy (inline code allowed by hash only)."""
    template = importlib.resources.files("brace.integrations").joinpath("status.html").read_text()
    scripts = re.findall(r"<script>(.*?)</script>", template, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", template, re.DOTALL)
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_csp_hash(s) for s in scripts),
            "style-src " + " ".join(_csp_hash(s) for s in styles),
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return template, policy


def _check_token(token: object) -> str | None:
    if token is None:
        return None
    if not isinstance(token, str) or not token or token != token.strip() or " " in token:
        raise ConfigError(
            f"control_token={'<hidden>' if isinstance(token, str) else repr(token)} is not "
            "allowed; expected None (no control) or a non-empty str without spaces, such as "
            "secrets.token_urlsafe()"
        )
    return token


def _check_refresh(refresh: object) -> float:
    if (
        not isinstance(refresh, int | float)
        or isinstance(refresh, bool)
        or not math.isfinite(refresh)
        or not 0.1 <= refresh <= 3600
    ):
        raise ConfigError(f"refresh={refresh!r} is out of range; expected seconds from 0.1 to 3600")
    return float(refresh)


class StatusPages:
    """The routes of the status app; see the module docstring.

    Args:
        control_token: Enables control when given; requests must carry
            ``Authorization: Bearer <control_token>``. Default None: no control.
        refresh: Seconds between the page's refreshes. Default 2.0.
    """

    def __init__(self, *, control_token: str | None = None, refresh: float = 2.0) -> None:
        self._token = _check_token(control_token)
        template, self._csp = _load_page()
        self._page = (
            template.replace("{{refresh}}", html.escape(f"{_check_refresh(refresh):g}"))
            .replace("{{control}}", "on" if self._token is not None else "off")
            .encode()
        )

    def handle(self, method: str, path: str, authorization: str | None, base: str) -> Response:
        """The answer to ``method path``.

        ``path`` is relative to the app's mount point ``base`` (``""`` at the
        root); a HEAD request gets the GET answer without its body.
        """
        response = self._route(method, path, authorization, base)
        if method == "HEAD":
            return Response(response.status, b"", response.headers)
        return response

    def _route(self, method: str, path: str, authorization: str | None, base: str) -> Response:
        if not path:  # mounted at /brace and asked for /brace: the page's links need the slash
            return Response(308, b"", [("Location", base + "/"), *_COMMON])
        if path == "/":
            return self._only_get(method) or Response(
                200,
                self._page,
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Security-Policy", self._csp),
                    *_COMMON,
                ],
            )
        if path == "/status.json":
            return self._only_get(method) or _json(200, status())
        if path.startswith("/policies/"):
            return self._control(method, path[len("/policies/") :], authorization)
        return _error(404, "not found")

    @staticmethod
    def _only_get(method: str) -> Response | None:
        if method in {"GET", "HEAD"}:
            return None
        return _error(405, "method not allowed", [("Allow", "GET, HEAD")])

    def _control(self, method: str, rest: str, authorization: str | None) -> Response:
        name, _, action = rest.rpartition("/")
        if self._token is None or action not in ACTIONS or not name:
            return _error(404, "not found")  # control does not exist at all without a token
        if method != "POST":
            return _error(405, "method not allowed", [("Allow", "POST")])
        if not self._authorized(authorization):
            return _error(
                403,
                "control needs 'Authorization: Bearer <token>' with the app's control token",
                [("WWW-Authenticate", 'Bearer realm="brace"')],
            )
        breakers = [p for p in policies() if isinstance(p, CircuitBreaker) and p.name == name]
        if not breakers:
            return _error(404, f"no circuit breaker named {name!r}")
        for breaker in breakers:
            getattr(breaker, action)()
        return _json(200, {"policies": [entry(b) for b in breakers]})

    def _authorized(self, authorization: str | None) -> bool:
        token = self._token
        if token is None or authorization is None:
            return False
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())


def decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers (lowercase byte names) as a dict; the last value of a name wins."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}


def relative(path: str, mount: str) -> str:
    """``path`` with the mount prefix removed, when the server left it in (Starlette does)."""
    if mount and (path == mount or path.startswith(mount + "/")):
        return path[len(mount) :]
    return path

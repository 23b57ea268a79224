"""Server-directed delays: finding and reading a ``Retry-After`` hint.

`Retry` asks a hook for a hint after every failed attempt. The hook receives
the outcome (the exception raised, or the result that ``on_result`` rejected)
and returns one of:

* seconds (``int``/``float``) or a ``timedelta``;
* an aware ``datetime`` (converted with the policy clock's ``wall()``);
* a ``Retry-After`` header value (``"120"`` or an HTTP-date);
* ``None`` when it has no hint.

The default hook, `retry_after_of`, reads an exception's ``retry_after``
attribute (brace's `CircuitOpenError` and `RateLimitedError` carry one), then
a ``Retry-After`` header on ``exc.response.headers`` (the shape of httpx's and
requests' HTTP errors) or on a rejected result's ``headers``. HTTP
integrations pass their own hook as ``Retry(respect_retry_after=hook)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["RetryAfterHook", "hint_seconds", "parse_header", "retry_after_of"]

#: Given an outcome (exception or rejected result), a hint or ``None``.
RetryAfterHook = Callable[[object], object]


def _header(holder: object) -> object:
    headers = getattr(holder, "headers", None)
    if isinstance(headers, Mapping) or hasattr(headers, "get"):
        try:
            return headers.get("Retry-After")  # type: ignore[union-attr]
        except Exception:
            return None
    return None


def retry_after_of(outcome: object) -> object:
    """The default hook: ``outcome.retry_after``, else a ``Retry-After`` response header."""
    if isinstance(outcome, BaseException):
        hint = getattr(outcome, "retry_after", None)
        if hint is not None:
            return hint
        response = getattr(outcome, "response", None)
        return None if response is None else _header(response)
    return _header(outcome)


def parse_header(value: str) -> float | datetime | None:
    """A ``Retry-After`` header value: delay-seconds or an HTTP-date; ``None`` if malformed."""
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def hint_seconds(hint: object, wall_now: Callable[[], float]) -> float | None:
    """Seconds to wait for ``hint`` (see the module docstring), or ``None`` for no usable hint.

    A time in the past means 0; NaN, naive datetimes and other values are ignored.
    """
    if isinstance(hint, str):
        hint = parse_header(hint)
    if isinstance(hint, bool) or hint is None:
        return None
    if isinstance(hint, int | float):
        seconds = float(hint)
    elif isinstance(hint, timedelta):
        seconds = hint.total_seconds()
    elif isinstance(hint, datetime):
        if hint.tzinfo is None:
            return None
        seconds = hint.timestamp() - wall_now()
    else:
        return None
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)

"""HTTP calls made safe: what counts as a failure, ``Retry-After``, and the standard pipeline.

This module imports no HTTP client. The integrations build on it:
`brace.integrations.httpx` (``ResilientTransport``, ``AsyncResilientTransport``)
and `brace.integrations.requests` (``ResilientAdapter``)::

    client = httpx.Client(transport=ResilientTransport(policy=brace.http.standard("recs")))

* `is_transient`: connection failures, timeouts and the statuses 408, 429,
  500, 502, 503, 504 are failures of the dependency; every other answer,
  4xx included, is a working server saying no.
* `retry_after`: the seconds a response's ``Retry-After`` asks for
  (delay-seconds or an HTTP-date).
* `standard`: the pipeline .NET's ``AddStandardResilienceHandler`` builds,
  outermost first: bulkhead, total time limit, retry (idempotent requests
  only, full jitter, ``Retry-After``, a retry budget), a circuit breaker per
  host, attempt time limit.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextvars import Token
from datetime import timedelta
from typing import Any, ClassVar, ParamSpec, TypeVar

from brace import _validate
from brace._backoff import Backoff
from brace._breaker import CircuitBreaker
from brace._budget import RetryBudget
from brace._bulkhead import Bulkhead
from brace._calls import shell
from brace._clock import Clock
from brace._deadline import _CURRENT as _DEADLINE
from brace._deadline import Expiry, check_deadline
from brace._errors import BraceError, ConfigError
from brace._http_errors import TRANSIENT_STATUSES, never_sent, status_of, transient_exception
from brace._http_hosts import BreakerFactory, HostBreakers
from brace._http_request import CURRENT, RequestInfo, authority, current_request
from brace._policy import Pipeline, Policy, pipeline
from brace._retry import Retry
from brace._retry_after import hint_seconds
from brace._unasync import sync_twin
from brace._window import TimeWindow

__all__ = [
    "IDEMPOTENT_METHODS",
    "TRANSIENT_STATUSES",
    "HostBreakers",
    "RequestInfo",
    "TimeLimit",
    "TransientStatusError",
    "authority",
    "current_request",
    "is_transient",
    "retry_after",
    "retry_on",
    "standard",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Methods a retry may repeat (RFC 9110 idempotent methods): sending one twice is safe.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

#: Statuses whose ``Retry-After`` a retry honours: the server asked to be left alone.
_HINTED_STATUSES = frozenset({429, 503})


class TransientStatusError(BraceError):
    """An attempt got a transient status (408, 429, 5xx): a failure to retry and count.

    brace's integrations raise it inside the pipeline so that retries and
    breakers see the failure, and hand ``response`` back (never this error)
    when the retries give up. Its body has been read, so the connection is
    back in its pool.

    Attributes:
        response: The response (httpx, requests, aiohttp).
        status_code: Its status.
    """

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status_code: int = status_of(response) or 0
        super().__init__(f"HTTP {self.status_code}: a transient status")


def is_transient(response_or_exception: object) -> bool:
    """Whether an HTTP outcome is a failure of the dependency, worth retrying.

    A response (or an error raised for one, such as ``httpx.HTTPStatusError``)
    is transient when its status is 408, 429, 500, 502, 503 or 504. An
    exception is transient when the connection could not be made, broke or
    timed out (httpx's, requests', urllib3's and aiohttp's own errors, the
    builtin `ConnectionError` and `TimeoutError`, and brace's
    `TimeoutExceededError`). Errors made locally (an unsupported URL, a
    certificate that does not verify) and brace's other rejections are not.
    """
    if isinstance(response_or_exception, BaseException):
        return transient_exception(response_or_exception)
    return status_of(response_or_exception) in TRANSIENT_STATUSES


def _header(holder: object) -> str | None:
    """The ``Retry-After`` of a response, or of the response an exception carries."""
    response = getattr(holder, "response", None) if isinstance(holder, BaseException) else holder
    headers = getattr(response, "headers", None)
    get = getattr(headers, "get", None)
    if get is None:
        return None
    try:
        value = get("Retry-After")
    except Exception:
        return None
    return value if isinstance(value, str) else None


def retry_after(response_or_exception: object, *, clock: Clock | None = None) -> float | None:
    """Seconds the ``Retry-After`` header asks to wait, or ``None`` without a usable one.

    Reads ``response.headers`` (or ``exception.response.headers``): delay-seconds
    (``"120"``) or an HTTP-date (``"Wed, 21 Oct 2026 07:28:00 GMT"``, converted
    with ``clock.wall()``; a date in the past means 0).
    """
    value = _header(response_or_exception)
    if value is None:
        return None
    return hint_seconds(value, _validate.clock("clock", clock).wall)


def _hint(outcome: object) -> str | None:
    """The retry's hint hook: ``Retry-After`` of a 429 or 503, left to Retry to convert."""
    response = getattr(outcome, "response", None)
    if status_of(response) not in _HINTED_STATUSES:
        return None
    return _header(response)


def retry_on(methods: Iterable[str] = IDEMPOTENT_METHODS) -> Callable[[BaseException], bool]:
    """A ``Retry(on=...)`` predicate: a transient failure of a request safe to send again.

    Safe means: its method is in ``methods``, or it carries an
    ``Idempotency-Key`` header; and its body can be sent again. A request
    that never left (the connection was refused or timed out) is safe
    whatever its method. Outside brace's integrations every transient
    failure is retried.

    Args:
        methods: Methods to retry. Default `IDEMPOTENT_METHODS` (GET, HEAD,
            OPTIONS, PUT, DELETE, TRACE); POST and PATCH need a key.
    """
    allowed = frozenset(_check_methods(methods))

    def retryable(exc: BaseException) -> bool:
        if not transient_exception(exc):
            return False
        info = CURRENT.get()
        if info is None or never_sent(exc):
            return True
        return info.replayable and (info.keyed or info.method in allowed)

    return retryable


def _check_methods(methods: object) -> Iterable[str]:
    if isinstance(methods, str) or not isinstance(methods, Iterable):
        raise ConfigError(
            f"retry_methods={methods!r} is not allowed; expected a collection of method "
            'names such as {"GET", "PUT"}'
        )
    items = list(methods)
    if not all(isinstance(m, str) and m for m in items):
        raise ConfigError(f"retry_methods={methods!r} is not allowed; every item must be a str")
    return (m.upper() for m in items)


class TimeLimit(Policy):
    """A deadline as a pipeline member: what runs inside sees `brace.remaining()` <= ``seconds``.

    Unlike `brace.Timeout` it interrupts nothing: no worker thread, no
    cancellation. It is for code that honours `brace.remaining()` itself, as
    brace's HTTP integrations do by turning it into socket timeouts (connect,
    read, write, pool), so a sync HTTP call is bounded without a thread. An
    enclosing deadline that ends sooner stays in force.

    Args:
        seconds: The limit, > 0 (float or timedelta). Required.
        name: Used in errors and events. Default ``"timelimit"``.
        clock: Where the limit is measured. Default the system clock.
    """

    _guards_deadline: ClassVar[bool] = True

    def __init__(
        self, seconds: float | timedelta, *, name: str | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(name)
        self.seconds = _validate.duration("seconds", seconds, allow_zero=False)
        self._clock: Clock = _validate.clock("clock", clock)

    def _config(self) -> dict[str, object]:
        return {"seconds": self.seconds}

    def __repr__(self) -> str:
        return f"brace.http.{super().__repr__().removeprefix('brace.')}"

    def _enter(self) -> Token[Expiry | None] | None:
        """Install this limit unless an enclosing bound ends first; the token to restore it."""
        outer = _DEADLINE.get()
        clock, seconds = self._clock, self.seconds
        if outer is None:
            now = clock.monotonic()
        else:
            now = outer.clock.monotonic()
            left = outer.expires - now
            if left <= 0:
                check_deadline(self.name)  # raises TimeoutExceededError, as every policy would
            if left <= seconds:
                return None  # the enclosing deadline is the tighter: it stays in force
            if outer.clock is not clock:
                now = clock.monotonic()
        return _DEADLINE.set(Expiry(now + seconds, seconds, clock, outer, "timeout"))

    # The shell installs the deadline directly: a `brace.deadline` block would cost twice as
    # much. Written async; the sync one is derived.

    def _awrap(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        enter, leave = self._enter, _DEADLINE.reset

        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            token = enter()
            try:
                return await fn(*args, **kwargs)
            finally:
                if token is not None:
                    leave(token)

        return shell(wrapped)

    _wrap = sync_twin(_awrap, "_wrap")


def standard(
    name: str,
    *,
    max_concurrent: int | None = 1000,
    total_timeout: float | timedelta | None = 30.0,
    attempts: int = 3,
    backoff: Backoff | Iterable[float] | None = None,
    budget: RetryBudget | bool = True,
    retry_methods: Iterable[str] = IDEMPOTENT_METHODS,
    breaker: BreakerFactory | None = None,
    max_hosts: int = 100,
    attempt_timeout: float | timedelta | None = 10.0,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> Pipeline:
    """The standard HTTP pipeline, in the order of .NET's standard resilience handler.

    Outermost first: `Bulkhead` (``max_concurrent``, no queue) → `TimeLimit`
    (``total_timeout``, every attempt and wait) → `Retry` (``attempts``, full
    jitter, ``Retry-After`` on 429/503 honoured within the time left, a
    `RetryBudget`, only requests `retry_on` allows) → `HostBreakers` (a
    breaker per host counting transient outcomes) → `TimeLimit`
    (``attempt_timeout``). Pass ``None`` to leave a stage out. The defaults
    and why are in ``docs/http.md``.

    Args:
        name: Names the policies (each breaker is ``f"{name}:{host}"``). Required.
        max_concurrent: Requests in flight at once; more are refused with
            `BulkheadFullError`. Default 1000.
        total_timeout: Seconds for a request, retries and waits included. Default 30.
        attempts: Total attempts, the first included (1: no retry). Default 3.
        backoff: Waits between attempts. Default
            ``Backoff.exponential(initial=0.2, max_delay=30.0, jitter="full")``.
        budget: ``True`` for a new `RetryBudget` (retries at most 20% of
            requests, plus 10 per second), ``False`` for none, or a budget to
            share. Default ``True``.
        retry_methods: Methods retried without an ``Idempotency-Key``.
            Default `IDEMPOTENT_METHODS`.
        breaker: Builds each host's breaker from its name. Default: opens
            when at least half of 20 or more calls in 30 s failed, for 5 s.
        max_hosts: Host breakers kept (least recently used dropped). Default 100.
        attempt_timeout: Seconds for one attempt, until the response's
            headers have arrived. Default 10.
        clock: For every stage. Default the system clock.
        rng: Drives the jitter. Default a shared `random.Random`.

    Raises:
        ConfigError: a bad value for any argument.
    """
    checked = _validate.clock("clock", clock)
    on = retry_on(retry_methods)
    stages: list[Policy] = []
    if max_concurrent is not None:
        stages.append(Bulkhead(name, max_concurrent=max_concurrent, clock=checked))
    if total_timeout is not None:
        total = _validate.duration("total_timeout", total_timeout, allow_zero=False)
        stages.append(TimeLimit(total, name=f"{name}.total", clock=checked))
    if attempts != 1:
        stages.append(
            Retry(
                name,
                attempts=attempts,
                backoff=_DEFAULT_BACKOFF if backoff is None else backoff,
                on=on,
                budget=_budget(budget, checked),
                respect_retry_after=_hint,
                rng=rng,
                clock=checked,
            )
        )
    stages.append(HostBreakers(name, breaker or _default_breaker(checked), max_hosts=max_hosts))
    if attempt_timeout is not None:
        each = _validate.duration("attempt_timeout", attempt_timeout, allow_zero=False)
        stages.append(TimeLimit(each, name=f"{name}.attempt", clock=checked))
    return pipeline(*stages)


_DEFAULT_BACKOFF = Backoff.exponential(initial=0.2, multiplier=2.0, max_delay=30.0, jitter="full")


def _budget(budget: object, clock: Clock) -> RetryBudget | None:
    if budget is True:
        return RetryBudget(clock=clock)
    if budget is False:
        return None
    if isinstance(budget, RetryBudget):
        return budget
    raise ConfigError(
        f"budget={budget!r} is not allowed; expected True (a new RetryBudget), False (none) "
        "or a brace.RetryBudget to share"
    )


def _not_transient(exc: BaseException) -> bool:
    return not transient_exception(exc)


def _default_breaker(clock: Clock) -> BreakerFactory:
    def make(breaker_name: str) -> CircuitBreaker:
        return CircuitBreaker(
            breaker_name,
            failure_rate=0.5,
            minimum_calls=20,
            window=TimeWindow(seconds=30),
            open_for=5.0,
            record=transient_exception,
            ignore=_not_transient,  # a local error says nothing about the host's health
            clock=clock,
        )

    return make


# Public names defined in private modules report this module, as brace's own report `brace`.
HostBreakers.__module__ = RequestInfo.__module__ = current_request.__module__ = __name__
authority.__module__ = __name__

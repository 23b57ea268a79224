"""brace's exception tree.

Everything brace raises on its own account derives from `BraceError`::

    BraceError
     ├── ConfigError (ValueError)          bad configuration, raised at construction
     └── RejectedError                     your call was not run, or was cut off
          ├── CircuitOpenError             .policy, .retry_after
          ├── BulkheadFullError            .policy
          ├── RateLimitedError             .policy, .retry_after
          └── TimeoutExceededError (TimeoutError)
                                           .policy, .timeout, .source

Exceptions raised by the protected call itself are never wrapped: when a
policy gives up it re-raises the call's own last exception, with a note.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "REJECTIONS",
    "BraceError",
    "BulkheadFullError",
    "CircuitOpenError",
    "ConfigError",
    "RateLimitedError",
    "RejectedError",
    "TimeoutExceededError",
    "set_note",
]


class BraceError(Exception):
    """Root of every exception brace raises on its own account."""


class ConfigError(BraceError, ValueError):
    """A policy was configured with a value outside what it allows.

    Raised at construction, never in the hot path. The message names the
    parameter, the value given and what is allowed.
    """


class RejectedError(BraceError):
    """The call was not run, or was cut off, by a policy.

    Attributes:
        policy: Name of the policy that rejected the call (``""`` for
            anonymous policies such as a deadline).
        retry_after: Seconds after which trying again may succeed, or
            ``None`` when the policy cannot tell. Retries honour it.
    """

    policy: str
    retry_after: float | None

    def __init__(self, message: str, *, policy: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.policy = policy
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles args and __dict__ only; slotted fields travel explicitly.
        fields = {
            name: getattr(self, name, None)
            for klass in type(self).__mro__
            for name in getattr(klass, "__slots__", ())
        }
        return (_restore, (type(self), self.args, fields), self.__dict__ or None)


def _restore(
    cls: type[RejectedError], args: tuple[Any, ...], fields: dict[str, Any]
) -> RejectedError:
    error = cls.__new__(cls, *args)
    error.args = args
    for name, value in fields.items():
        setattr(error, name, value)
    return error


class CircuitOpenError(RejectedError):
    """A circuit breaker is open (or forced open, or out of half-open trials).

    ``retry_after`` is the number of seconds until the breaker will admit a
    trial call (``None`` while forced open).
    """

    # Slots, not the instance dict: an open breaker builds one of these per rejected call,
    # and filling a dict was a third of that cost. (Not on RejectedError itself: a slotted
    # base cannot be combined with TimeoutError's C layout.)
    __slots__ = ("policy", "retry_after")

    @classmethod
    def fast(
        cls, message: str, policy: str, retry_after: float | None, cause: BaseException | None
    ) -> CircuitOpenError:
        """Build one for an open breaker's hot path, ``raise``-ready with ``cause`` as its cause.

        Equivalent to ``CircuitOpenError(message, policy=..., retry_after=...)``;
        `BaseException.__new__` already sets ``args``, so skipping the
        Python-level ``__init__`` chain halves the cost of a rejection.
        """
        error = cls.__new__(cls, message)
        error.policy = policy
        error.retry_after = retry_after
        if cause is not None:
            error.__cause__ = cause  # as `raise error from cause`
        return error


class BulkheadFullError(RejectedError):
    """A bulkhead had no free slot and no room (or time) to wait for one."""


class RateLimitedError(RejectedError):
    """A rate limiter or throttle refused the call; ``retry_after`` says when to try again."""


class TimeoutExceededError(RejectedError, TimeoutError):
    """The call ran out of time.

    Attributes:
        timeout: The limit that applied, in seconds.
        source: ``"timeout"`` when a `Timeout` policy's own limit was the
            tighter, ``"deadline"`` when an enclosing `brace.deadline` was.
    """

    timeout: float
    source: Literal["timeout", "deadline"]

    def __init__(
        self,
        message: str,
        *,
        policy: str = "",
        timeout: float,
        source: Literal["timeout", "deadline"] = "timeout",
    ) -> None:
        super().__init__(message, policy=policy, retry_after=None)
        self.timeout = timeout
        self.source = source


#: Rejections by policies inside a `Retry`: the protection working, so not retried by default.
REJECTIONS: tuple[type[RejectedError], ...] = (
    CircuitOpenError,
    BulkheadFullError,
    RateLimitedError,
)


def set_note(exc: BaseException, note: str, *, key: str) -> None:
    """Add the PEP 678 ``note`` to ``exc``, replacing an earlier note that starts with ``key``.

    Code that raises one prebuilt exception instance again and again would
    otherwise collect one note per failed call on it, without bound.
    """
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        for index, old in enumerate(notes):
            if isinstance(old, str) and old.startswith(key):
                notes[index] = note
                return
    exc.add_note(note)

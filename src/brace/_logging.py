"""brace's own log: what production needs to see without writing a listener.

brace logs through the standard `logging` module, logger ``"brace"``, which
carries a `logging.NullHandler`: nothing is shown until the application
configures logging (``logging.basicConfig()``, a JSON formatter, structlog).
It logs:

* a circuit breaker opening (WARNING, with the trip reason), re-opening,
  being forced open or disabled (WARNING); going half-open and closing (INFO);
* a retry giving up (INFO, with the note added to the exception);
* rejections, summarised: at most one line per policy per `SUMMARY_EVERY`
  seconds with the count, never one line per rejection;
* a shared store becoming unavailable (WARNING) and recovering (INFO).

Every record carries its facts in ``extra=`` as ``brace_*`` attributes
(``brace_event``, ``brace_policy``, ``brace_policy_type``, ...), so JSON
formatters and structlog render them as keys. `configure_logging` turns
this log off or on; listener failures are logged whatever it says.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from brace._errors import ConfigError
from brace._events import Event, GaveUp, StateChanged

__all__ = ["LOG", "SUMMARY_EVERY", "configure_logging", "log_event", "log_rejections"]

#: Seconds between two rejection summaries of one policy, at the least.
SUMMARY_EVERY = 10.0

LOG = logging.getLogger("brace")
LOG.addHandler(logging.NullHandler())


class _Switch:
    """Whether brace writes its own log lines; `configure_logging` sets it."""

    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = True


SWITCH = _Switch()


def configure_logging(enabled: bool = True) -> None:
    """Turn brace's own log lines (state changes, give-ups, rejection summaries) on or off.

    On by default. The lines go to the ``"brace"`` logger, which shows
    nothing until the application configures logging; turning them off
    also skips the little work of preparing them.

    Args:
        enabled: True to log (the default), False to stay silent.

    Raises:
        ConfigError: ``enabled`` is not a bool.
    """
    if not isinstance(enabled, bool):
        raise ConfigError(f"enabled={enabled!r} is not allowed; expected True or False")
    SWITCH.enabled = enabled


def kind_words(policy_type: str) -> str:
    """``"CircuitBreaker"`` -> ``"circuit breaker"``: how a log line names a policy's kind."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", policy_type).lower()


def _emit(level: int, msg: str, args: tuple[object, ...], extra: dict[str, object]) -> None:
    if LOG.isEnabledFor(level):
        LOG.log(level, msg, *args, extra=extra)


# Breaker moves, by new state (and, for OPEN, whether it came from HALF_OPEN).
_MOVES: dict[str, tuple[int, str]] = {
    "OPEN": (logging.WARNING, "opened"),
    "REOPEN": (logging.WARNING, "re-opened"),
    "HALF_OPEN": (logging.INFO, "is half-open, letting trial calls through"),
    "CLOSED": (logging.INFO, "closed"),
    "FORCED_OPEN": (logging.WARNING, "was forced open and rejects every call"),
    "DISABLED": (logging.WARNING, "was disabled and admits every call"),
}


def _state_changed(event: StateChanged, policy_type: str) -> None:
    key = "REOPEN" if event.new == "OPEN" and event.old == "HALF_OPEN" else event.new
    level, verb = _MOVES.get(key, (logging.INFO, f"moved to {event.new}"))
    _emit(
        level,
        "%s %r %s: %s",
        (kind_words(policy_type), event.policy, verb, event.reason),
        {
            "brace_event": "state_change",
            "brace_policy": event.policy,
            "brace_policy_type": policy_type,
            "brace_old": event.old,
            "brace_new": event.new,
            "brace_reason": event.reason,
        },
    )


def _gave_up(event: GaveUp, policy_type: str) -> None:
    plural = "attempt" if event.attempts == 1 else "attempts"
    note = event.note or (
        f"{kind_words(policy_type)} {event.policy!r} gave up after {event.attempts} "
        f"{plural} in {event.elapsed:.2f} s ({event.reason})"
    )
    if event.exception is not None:
        note = f"{note}; last failure: {event.exception}"
    _emit(
        logging.INFO,
        "%s",
        (note,),
        {
            "brace_event": "gave_up",
            "brace_policy": event.policy,
            "brace_policy_type": policy_type,
            "brace_reason": event.reason,
            "brace_attempts": event.attempts,
            "brace_elapsed": event.elapsed,
            "brace_exception": event.exception,
        },
    )


# Events of a shared store, logged by name: a store reports trouble through them.
_STORE_EVENTS: dict[str, tuple[int, str]] = {
    "StoreUnavailable": (logging.WARNING, "store_unavailable"),
    "StoreRecovered": (logging.INFO, "store_recovered"),
}


def _store_event(event: Event, policy_type: str) -> None:
    level, tag = _STORE_EVENTS[type(event).__name__]
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    details = ", ".join(f"{k}={v!r}" for k, v in fields.items() if k != "policy")
    if level >= logging.WARNING:
        what = "shared state unavailable, running on local state"
    else:
        what = "shared state available again"
    extra: dict[str, object] = {
        "brace_event": tag,
        "brace_policy": event.policy,
        "brace_policy_type": policy_type,
    }
    extra.update({f"brace_{k}": v for k, v in fields.items() if k != "policy"})
    suffix = f" ({details})" if details else ""
    _emit(level, "%s %r: %s%s", (kind_words(policy_type), event.policy, what, suffix), extra)


def log_event(event: Event, policy_type: str) -> None:
    """Write the log line for a notable ``event`` of a ``policy_type`` policy, if it has one."""
    if not SWITCH.enabled:
        return
    if type(event) is StateChanged:
        _state_changed(event, policy_type)
    elif type(event) is GaveUp:
        _gave_up(event, policy_type)
    elif type(event).__name__ in _STORE_EVENTS:
        _store_event(event, policy_type)


def log_rejections(policy_type: str, name: str, count: int, seconds: float | None) -> None:
    """The summary line: ``count`` rejections over the last ``seconds`` (None: the first)."""
    kind = kind_words(policy_type)
    extra: dict[str, object] = {
        "brace_event": "rejections",
        "brace_policy": name,
        "brace_policy_type": policy_type,
        "brace_rejected": count,
        "brace_seconds": seconds,
    }
    if seconds is None:
        msg = "%s %r rejected a call; further rejections are summarised every %g s"
        _emit(logging.INFO, msg, (kind, name, SUMMARY_EVERY), extra)
    else:
        noun = "call" if count == 1 else "calls"
        msg = "%s %r rejected %d %s in the last %.1f s"
        _emit(logging.INFO, msg, (kind, name, count, noun, seconds), extra)

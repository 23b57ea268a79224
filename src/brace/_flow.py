"""Flows: a decision loop written once, as a generator, and the two drivers that run it.

Policies that call or wait more than once per call (`Retry`'s attempts and
backoff, a `Fallback` chain's alternatives) write their decisions as a flow:
a generator that says what to do next and never runs anything itself. It
yields

* `CALL`: run the protected function with the call's arguments;
* a `Step`: run ``step.target`` with the call's arguments (awaiting it in
  the async driver when ``step.awaited``);
* a ``float``: sleep that many seconds on the policy's clock (honouring
  `brace.testing.no_wait`).

After a run the flow reads the outcome from ``box[0]``, ``(True, result)``
or ``(False, exception)``; it leaves its answer in ``box[0]`` and returns,
or raises. (A box instead of ``generator.send`` lets the drivers loop with
``for``, whose end costs no `StopIteration` object.)

`adrive` is written once; `drive` is derived from its source.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Final, Protocol

from brace._calls import refuse_awaitable
from brace._clock import Clock, await_wait, wait  # noqa: F401 - wait: drive's sleep
from brace._unasync import IS_ASYNC, sync_twin

__all__ = ["CALL", "Flow", "Outcome", "Step", "adrive", "drive"]

#: What a flow yields to have the protected function run once more.
CALL: Final = None

#: ``(True, result)`` or ``(False, exception)``: what a flow finds in ``box[0]`` after a run.
Outcome = tuple[bool, Any]


class Step(Protocol):
    """Another callable a flow wants run with the call's arguments."""

    @property
    def target(self) -> Callable[..., Any]:
        """What to call."""
        ...

    @property
    def awaited(self) -> bool:
        """Whether the async driver awaits what it returns."""
        ...


Flow = Generator["float | Step | None", None, None]


async def _astep(step: Step, args: Any, kwargs: Any) -> Outcome:
    """Run one step other than `CALL` (a fallback's alternative): its outcome."""
    target = step.target
    try:
        result = target(*args, **kwargs)
        if step.awaited:
            result = await result
        if not IS_ASYNC and hasattr(result, "__await__"):
            refuse_awaitable(target, result, direct=True)
    except Exception as exc:
        return False, exc
    return True, result


_step: Callable[[Step, Any, Any], Outcome] = sync_twin(_astep, "_step")


async def adrive(  # noqa: PLR0917 - positional: called once per failing call, on a hot path
    flow: Flow, box: list[Any], fn: Callable[..., Any], args: Any, kwargs: Any, clock: Clock
) -> Any:
    """Run ``flow`` for one call of ``fn(*args, **kwargs)``; return the answer it leaves.

    A cancelled call or a Ctrl-C closes the flow at once, so the failure it
    holds (whose traceback holds the caller's frames) is freed now, not by
    the cyclic garbage collector.
    """
    try:
        for step in flow:
            if step is CALL:
                try:
                    result = await fn(*args, **kwargs)
                except Exception as exc:
                    box[0] = False, exc
                    continue
                if not IS_ASYNC and hasattr(result, "__await__"):
                    refuse_awaitable(fn, result)  # asks whether fn is the user's own
                box[0] = True, result
            elif type(step) is float:
                await await_wait(clock, step)
            else:
                box[0] = await _astep(step, args, kwargs)  # type: ignore[arg-type]
        return box[0]
    except BaseException:
        flow.close()
        raise
    finally:
        box.clear()


drive: Callable[[Flow, list[Any], Callable[..., Any], Any, Any, Clock], Any]
drive = sync_twin(adrive, "drive", await_wait="wait", _astep="_step")

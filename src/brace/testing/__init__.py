"""Tools for testing code that uses brace: virtual time, recorded events, no waiting.

* `VirtualClock`: pass it as ``clock=`` to any policy (and to `brace.deadline`)
  and time moves only when you advance it or a policy sleeps.
* `EventRecorder`: a listener that keeps events for assertions.
* `no_wait`: a context manager under which backoff sleeps take no time.
* `run` / `VirtualEventLoop`: run asyncio code in virtual time, where
  `asyncio.sleep`, `asyncio.timeout` and brace's clock share one timeline.
* `StoreConformance`: the checks every store (in memory, Redis, your own) must pass.
"""

from brace import _public
from brace.testing._clock import VirtualClock
from brace.testing._conformance import StoreConformance
from brace.testing._loop import VirtualEventLoop, run
from brace.testing._no_wait import no_wait
from brace.testing._recorder import EventRecorder

__all__ = [
    "EventRecorder",
    "StoreConformance",
    "VirtualClock",
    "VirtualEventLoop",
    "no_wait",
    "run",
]

_public.publish(globals(), "brace.testing")

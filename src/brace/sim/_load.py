"""The load model: open-loop Poisson arrivals with spikes, or closed-loop clients.

Open loop is how a public service sees its users: requests keep arriving at
``rate`` whatever happens to the ones already sent, which is what lets a
slow dependency pile up work. Closed loop is a fixed population of clients,
each sending its next request only after the previous one ended and a think
time passed, so a slow dependency slows the load down.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from brace import _validate
from brace.sim._model import Constant, Latency

__all__ = ["ClosedLoop", "Load", "OpenLoop", "Spike", "start_load"]

Request = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Spike:
    """Arrivals run at ``rate`` per second from ``at`` for ``duration`` seconds.

    Args:
        at: Start, in seconds from the beginning of the run.
        duration: Length in seconds.
        rate: Arrival rate inside the spike, requests per second (>= 0).
    """

    at: float
    duration: float
    rate: float

    def __post_init__(self) -> None:
        _validate.duration("at", self.at)
        _validate.duration("duration", self.duration, allow_zero=False)
        _validate.positive_number("rate", self.rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenLoop:
    """Poisson arrivals at ``rate`` per second, with optional spikes.

    Args:
        rate: Requests per second outside spikes (> 0).
        spikes: Windows with a different rate. Default none.
    """

    rate: float
    spikes: tuple[Spike, ...] = ()

    def __post_init__(self) -> None:
        _validate.positive_number("rate", self.rate)

    def segments(self, end: float) -> list[tuple[float, float, float]]:
        """``(start, stop, rate)`` pieces covering ``[0, end)``; later spikes win overlaps."""
        edges = sorted({0.0, end} | {t for s in self.spikes for t in (s.at, s.at + s.duration)})
        pieces = []
        for start, stop in itertools.pairwise(edges):
            if start >= end:
                break
            rate = self.rate
            for spike in self.spikes:
                if spike.at <= start < spike.at + spike.duration:
                    rate = spike.rate
            pieces.append((start, min(stop, end), rate))
        return pieces


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedLoop:
    """``clients`` clients, each sending a request, waiting for it, thinking, and again.

    Args:
        clients: Number of clients (>= 1).
        think_time: Pause between a response and the next request. Default
            ``Constant(0.1)``.
    """

    clients: int
    think_time: Latency = field(default_factory=lambda: Constant(0.1))

    def __post_init__(self) -> None:
        _validate.positive_int("clients", self.clients)


Load = OpenLoop | ClosedLoop


def start_load(
    load: Load,
    *,
    loop: asyncio.AbstractEventLoop,
    rng: random.Random,
    request: Request,
    spawn: Callable[[Coroutine[Any, Any, None]], object],
    end: float,
) -> None:
    """Schedule the arrivals of ``load`` on ``loop`` until ``end`` (virtual seconds).

    ``request`` makes one logical request; ``spawn`` starts a coroutine as a
    task (the runner tracks them).
    """
    if isinstance(load, OpenLoop):
        _Arrivals(load.segments(end), loop, rng, request, spawn).schedule(loop.time())
        return
    think = load.think_time.sampler(rng)
    for _ in range(load.clients):
        spawn(_closed_client(loop, request, think, end))


class _Arrivals:
    """A Poisson process with a piecewise-constant rate, driven by loop timers, no task."""

    def __init__(
        self,
        segments: list[tuple[float, float, float]],
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        request: Request,
        spawn: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self._segments = segments
        self._index = 0
        self._loop = loop
        self._gap = rng.expovariate
        self._request = request
        self._spawn = spawn

    def schedule(self, now: float) -> None:
        # Memoryless: a gap that would cross a rate change is redrawn from the boundary.
        segments = self._segments
        while self._index < len(segments):
            _, stop, rate = segments[self._index]
            if rate > 0:
                nxt = now + self._gap(rate)
                if nxt < stop:
                    self._loop.call_at(nxt, self._arrive, nxt)
                    return
            now = stop
            self._index += 1

    def _arrive(self, now: float) -> None:
        self._spawn(self._request())
        self.schedule(now)


async def _closed_client(
    loop: asyncio.AbstractEventLoop, request: Request, think: Callable[[], float], end: float
) -> None:
    while loop.time() < end:
        await request()
        pause = loop.create_future()
        loop.call_later(think(), pause.set_result, None)
        await pause

"""Degradation rows: Fallback and LastGood on the success path, Hedge vs a bare await, chaos off."""

from __future__ import annotations

import asyncio

import brace
from benchmarks._harness import BARE, FLOOR, Case
from benchmarks.cases.core import af, f
from brace import chaos


def _boom() -> int:
    raise ConnectionError


async def _aboom() -> int:
    raise ConnectionError


async def _in_a_task() -> int:
    # The floor for anything that races attempts: one task per call.
    return await asyncio.get_running_loop().create_task(af())


def cases() -> list[Case]:
    fallback = brace.Fallback(0)
    chain = brace.Fallback([brace.LastGood(60), 0])
    # A fixed hedge delay far above the call's latency: the success path never hedges.
    hedge = brace.Hedge(delay=1.0)
    adaptive = brace.Hedge(delay="p95", initial_delay=1.0)
    return [
        Case("degrade", "Fallback(value), success", fallback(f), ref=FLOOR),
        Case("degrade", "Fallback([LastGood, value]), success", chain(f), ref=FLOOR),
        Case("degrade", "Fallback(value), call fails", fallback(_boom), ref=FLOOR),
        Case("degrade", "LastGood alone, success", brace.LastGood(60)(f), ref=FLOOR),
        Case(
            "degrade",
            "chaos.Fault disabled",
            chaos.Fault(ValueError(), 1.0, enabled=False)(f),
            ref=FLOOR,
        ),
        Case(
            "degrade",
            "chaos.Fault rate 0 (draws a number)",
            chaos.Fault(ValueError(), 0.0)(f),
            ref=FLOOR,
        ),
        Case("degrade", "Fallback(value), success", fallback(af), "async", ref=FLOOR),
        Case("degrade", "Fallback(value), call fails", fallback(_aboom), "async", ref=FLOOR),
        Case("degrade", "bare call in a task (create_task + await)", _in_a_task, "async", ref=BARE),
        Case(
            "degrade",
            "Hedge(delay=1.0), success",
            hedge(af),
            "async",
            ref="bare call in a task (create_task + await)",
        ),
        Case(
            "degrade",
            "Hedge(delay='p95'), success",
            adaptive(af),
            "async",
            ref="Hedge(delay=1.0), success",
        ),
    ]

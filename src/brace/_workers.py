"""The worker threads behind sync `Timeout` calls: jobs, a small pool of parked daemon threads.

A `Job` is one call handed to a worker; its lock orders the worker's
"started"/"finished" against the caller's "withdrawn"/"abandoned", so a call
the caller stopped waiting for either never runs or is counted as left
running. Workers are daemon threads (a hung call never blocks exit) that park
between jobs and retire after `IDLE_SECONDS` without work.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from brace._policy import Args, Kwargs

__all__ = ["IDLE_SECONDS", "MAX_IDLE_WORKERS", "Job", "submit"]

R = TypeVar("R")


#: Idle worker threads kept for reuse, and how long (real seconds) one waits for work.
MAX_IDLE_WORKERS = 32
IDLE_SECONDS = 30.0


class _OnDone(Protocol):
    def __call__(self, *, abandoned: bool) -> None: ...


class Job(Generic[R]):
    """One sync call handed to a worker thread, and its outcome.

    ``lock`` orders the worker's "started" and "finished" against the
    caller's "withdrawn" (it stopped waiting before the job started: the job
    never runs) and "abandoned" (it stopped waiting while the job ran).
    ``on_done(abandoned)`` runs once, after a job that started has finished.
    """

    __slots__ = (
        "abandoned",
        "args",
        "context",
        "done",
        "error",
        "finished",
        "fn",
        "kwargs",
        "lock",
        "on_done",
        "result",
        "started",
        "withdrawn",
    )

    def __init__(
        self,
        context: contextvars.Context,
        fn: Callable[..., R],
        args: Args,
        kwargs: Kwargs,
        on_done: _OnDone,
    ) -> None:
        self.context = context
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.on_done = on_done
        self.lock = threading.Lock()
        self.done = threading.Lock()  # released when the outcome is ready
        self.done.acquire()
        self.started = self.finished = self.withdrawn = self.abandoned = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def execute(self) -> None:
        with self.lock:
            if self.withdrawn:
                return
            self.started = True
        try:
            self.result = self.context.run(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # handed to the caller's thread as is
            self.error = exc
        with self.lock:
            self.finished = True
            abandoned = self.abandoned
            if abandoned:
                self.result = self.error = None  # dropped: nobody is waiting
        self.on_done(abandoned=abandoned)
        if not abandoned:
            self.done.release()

    def outcome(self) -> R:
        error = self.error
        if error is None:
            return self.result  # type: ignore[return-value]
        self.error = None
        try:
            raise error
        finally:
            del error  # no reference cycle through this frame in the traceback


class _Worker:
    """A daemon thread that runs jobs, parking between them (so a hung call never blocks exit)."""

    __slots__ = ("job", "wake")

    def __init__(self, job: Job[Any]) -> None:
        self.job: Job[Any] | None = job
        self.wake = threading.Lock()
        self.wake.acquire()
        threading.Thread(target=self._loop, name="brace-timeout-worker", daemon=True).start()

    def _loop(self) -> None:
        while (job := self.job) is not None:
            self.job = None
            job.execute()
            del job
            self._park()

    def _park(self) -> None:
        # A wake-up sent after we stopped waiting for it (see below) must not wake the next park.
        self.wake.acquire(blocking=False)
        with _POOL_LOCK:
            if len(_IDLE) >= MAX_IDLE_WORKERS:
                return
            _IDLE.append(self)
        if self.wake.acquire(timeout=IDLE_SECONDS):
            return
        with _POOL_LOCK:
            if self in _IDLE:  # nobody picked us: retire
                _IDLE.remove(self)
                return
        # Picked: `submit` hands over the job before taking us off the list, so it is here,
        # and the wake-up follows unless the submitter was interrupted before sending it.
        while self.job is None:
            self.wake.acquire(timeout=IDLE_SECONDS)


_POOL_LOCK = threading.Lock()
_IDLE: list[_Worker] = []


def submit(job: Job[Any]) -> None:
    """Run ``job`` on an idle worker thread, or on a new one.

    The job is handed over before the worker leaves the idle list, so an
    interrupt (Ctrl-C) in between never strands a worker without its job.
    """
    with _POOL_LOCK:
        if _IDLE:
            worker: _Worker | None = _IDLE[-1]
            worker.job = job  # type: ignore[union-attr]
            _IDLE.pop()
        else:
            worker = None
    if worker is None:
        _Worker(job)
    else:
        worker.wake.release()

"""Events and listeners: delivery, removal, failing listeners, frozen payloads."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import brace
from brace._events import Listeners, emit
from brace.testing import EventRecorder


class Emitting(brace.Policy):
    """Emits one StateChanged per call, the way real policies emit."""

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def emitting(*args: Any, **kwargs: Any) -> Any:
            if self._listeners.active:
                emit(self._listeners, brace.StateChanged(self.name, "CLOSED", "OPEN", "test"))
            return fn(*args, **kwargs)

        return emitting


def test_policy_listener_receives_its_events() -> None:
    policy = Emitting("p")
    recorder = EventRecorder()
    sub = policy.listen(recorder)
    policy(lambda: None)()
    sub.remove()
    policy(lambda: None)()
    assert [brace.StateChanged("p", "CLOSED", "OPEN", "test")] == recorder.events
    assert recorder.kinds() == ["StateChanged"]
    assert len(recorder.of(brace.StateChanged)) == 1
    assert recorder.of(brace.GaveUp) == []


def test_global_listener_receives_events_from_every_policy(recorder: EventRecorder) -> None:
    Emitting("a")(lambda: None)()
    Emitting("b")(lambda: None)()
    assert [e.policy for e in recorder.events] == ["a", "b"]


def test_remove_is_idempotent_and_with_block_removes() -> None:
    policy = Emitting("p")
    seen: list[brace.Event] = []
    with policy.listen(seen.append) as sub:
        policy(lambda: None)()
    sub.remove()
    policy(lambda: None)()
    assert len(seen) == 1


def test_failing_listener_is_logged_once_counted_and_never_breaks_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = Emitting("p")
    recorder = EventRecorder()

    def broken(event: brace.Event) -> None:
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.ERROR, logger="brace"):
        with policy.listen(broken) as sub, policy.listen(recorder):
            results = [policy(lambda: 42)() for _ in range(3)]
    assert results == [42, 42, 42]
    assert sub.failures == 3
    assert len(recorder.events) == 3  # later listeners still get every event
    records = [r for r in caplog.records if r.name == "brace"]
    assert len(records) == 1
    assert "listener bug" in caplog.text


def test_non_callable_listener_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="listener=42 is not callable"):
        brace.listen(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not callable"):
        Emitting("p").listen("nope")  # type: ignore[arg-type]


def test_events_are_frozen_slotted_plain_values() -> None:
    event = brace.RetryScheduled("retry", attempt=1, delay=0.5, exception="ValueError")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.delay = 1.0  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    for cls in (
        brace.StateChanged,
        brace.CallRejected,
        brace.RetryScheduled,
        brace.GaveUp,
        brace.BudgetExhausted,
        brace.TimedOut,
        brace.FallbackUsed,
        brace.BulkheadFull,
        brace.Queued,
    ):
        assert issubclass(cls, brace.Event)
        assert dataclasses.is_dataclass(cls)
        for f in dataclasses.fields(cls):
            assert f.type in {"str", "int", "float", "float | None", "str | None"}, (cls, f)


def test_registration_is_safe_from_many_threads() -> None:
    registry = Listeners()
    barrier = threading.Barrier(8)
    subs: list[brace.Subscription] = []
    lock = threading.Lock()

    def register() -> None:
        barrier.wait()
        for _ in range(200):
            sub = registry.add(lambda e: None)
            with lock:
                subs.append(sub)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(registry.subs) == 1600
    for sub in subs:
        sub.remove()
    assert registry.subs == ()


def test_active_flag_follows_local_and_global_listeners() -> None:
    local, other = Listeners(), Listeners()
    assert (local.active, other.active) == (False, False)
    sub = local.add(lambda e: None)
    assert (local.active, other.active) == (True, False)
    with brace.listen(lambda e: None):
        assert (local.active, other.active) == (True, True)
        assert Listeners().active  # created while a global listener exists
        sub.remove()
        assert local.active
    assert (local.active, other.active) == (False, False)


def test_no_event_is_built_without_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []

    class Spy(brace.StateChanged):
        __slots__ = ()

        def __init__(self, policy: str, old: str, new: str, reason: str) -> None:
            built.append(policy)
            super().__init__(policy, old, new, reason)

    class SpyEmitting(brace.Policy):
        def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
            def emitting(*args: Any, **kwargs: Any) -> Any:
                if self._listeners.active:
                    emit(self._listeners, Spy(self.name, "CLOSED", "OPEN", "test"))
                return fn(*args, **kwargs)

            return emitting

    policy = SpyEmitting("p")
    for _ in range(10):
        policy(lambda: None)()
    assert built == []
    with policy.listen(lambda e: None):
        policy(lambda: None)()
    assert len(built) == 1

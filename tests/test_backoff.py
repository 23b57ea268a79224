"""Backoff schedules: the exact sequences, jitter distributions, overflow safety, validation."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace import Backoff


def take(backoff: Backoff, n: int, seed: int | None = 1) -> list[float]:
    rng = None if seed is None else random.Random(seed)
    return list(itertools.islice(backoff.delays(rng), n))


def test_constant_repeats_its_delay() -> None:
    assert take(Backoff.constant(0.5), 5) == [0.5] * 5


def test_constant_accepts_timedelta() -> None:
    assert take(Backoff.constant(timedelta(milliseconds=250)), 2) == [0.25] * 2


def test_linear_grows_by_step_up_to_the_cap() -> None:
    assert take(Backoff.linear(1, 2, max_delay=6), 5) == [1.0, 3.0, 5.0, 6.0, 6.0]


def test_linear_without_cap_keeps_growing() -> None:
    assert take(Backoff.linear(0, 0.5), 4) == [0.0, 0.5, 1.0, 1.5]


def test_exponential_without_jitter_doubles_from_initial_to_the_cap() -> None:
    backoff = Backoff.exponential(initial=0.1, multiplier=2.0, max_delay=1.0, jitter=None)
    assert pytest.approx(take(backoff, 6)) == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_default_exponential_is_full_jitter_from_100ms_capped_at_10s() -> None:
    backoff = Backoff.exponential()
    assert (
        backoff.initial,
        backoff.multiplier,
        backoff.max_delay,
        backoff.jitter,
    ) == (0.1, 2.0, 10.0, "full")


def _reference(
    kind: str | None, initial: float, mult: float, cap: float, rng: random.Random
) -> Iterator[float]:
    # Brooker's formulas written the naive way, for comparison.
    previous = initial
    for n in itertools.count():
        d = min(cap, initial * mult**n) if n < 1000 else cap
        if kind is None:
            yield d
        elif kind == "full":
            yield rng.uniform(0, d)
        elif kind == "equal":
            yield d / 2 + rng.uniform(0, d / 2)
        else:
            previous = min(cap, rng.uniform(initial, 3 * previous))
            yield previous


@pytest.mark.parametrize("jitter", [None, "full", "equal", "decorrelated"])
def test_every_jitter_matches_brookers_formula_draw_for_draw(jitter: str | None) -> None:
    backoff = Backoff.exponential(initial=0.005, multiplier=2.0, max_delay=2.0, jitter=jitter)  # type: ignore[arg-type]
    expected = list(itertools.islice(_reference(jitter, 0.005, 2.0, 2.0, random.Random(7)), 40))
    assert expected == pytest.approx(take(backoff, 40, seed=7))


def test_full_jitter_is_uniform_between_zero_and_the_delay() -> None:
    backoff = Backoff.exponential(initial=1.0, multiplier=1.0, max_delay=1.0, jitter="full")
    samples = take(backoff, 20_000, seed=42)
    assert min(samples) >= 0.0
    assert max(samples) <= 1.0
    assert pytest.approx(statistics.fmean(samples), abs=0.01) == 0.5
    assert pytest.approx(statistics.pvariance(samples), abs=0.005) == 1 / 12


def test_equal_jitter_stays_in_the_upper_half_with_mean_three_quarters() -> None:
    backoff = Backoff.exponential(initial=2.0, multiplier=1.0, max_delay=2.0, jitter="equal")
    samples = take(backoff, 20_000, seed=42)
    assert min(samples) >= 1.0
    assert max(samples) <= 2.0
    assert pytest.approx(statistics.fmean(samples), abs=0.02) == 1.5


def test_decorrelated_jitter_stays_between_initial_and_the_cap() -> None:
    backoff = Backoff.exponential(initial=0.01, max_delay=0.5, jitter="decorrelated")
    samples = take(backoff, 5_000, seed=3)
    assert min(samples) >= 0.01
    assert max(samples) <= 0.5
    assert 0.5 in samples  # the cap is reached and held sometimes


def test_the_same_seed_reproduces_the_same_schedule() -> None:
    backoff = Backoff.exponential(jitter="decorrelated")
    assert take(backoff, 30, seed=99) == take(backoff, 30, seed=99)
    assert take(backoff, 30, seed=99) != take(backoff, 30, seed=100)


def test_delays_without_rng_uses_a_shared_source() -> None:
    samples = take(Backoff.exponential(initial=1, max_delay=1), 100, seed=None)
    assert all(0 <= s <= 1 for s in samples)


@pytest.mark.parametrize("jitter", [None, "full", "equal", "decorrelated"])
def test_ten_thousand_attempts_never_overflow_nor_pass_the_cap(jitter: str | None) -> None:
    backoff = Backoff.exponential(initial=0.1, multiplier=2.0, max_delay=30.0, jitter=jitter)  # type: ignore[arg-type]
    samples = take(backoff, 10_000)
    assert all(math.isfinite(s) and 0 <= s <= 30.0 for s in samples)


def test_huge_multiplier_reaches_the_cap_without_overflow() -> None:
    backoff = Backoff.exponential(initial=1e-300, multiplier=1e300, max_delay=5.0, jitter=None)
    assert take(backoff, 4) == [1e-300, 1.0, 5.0, 5.0]


@given(
    initial=st.floats(0, 10, exclude_min=True),
    extra=st.floats(0, 100),
    multiplier=st.floats(1, 1e6),
    jitter=st.sampled_from([None, "full", "equal", "decorrelated"]),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=60, deadline=None)
def test_any_exponential_schedule_stays_within_zero_and_the_cap(
    initial: float, extra: float, multiplier: float, jitter: str | None, seed: int
) -> None:
    cap = initial + extra
    backoff = Backoff.exponential(initial, multiplier, cap, jitter)  # type: ignore[arg-type]
    samples = take(backoff, 200, seed=seed)
    assert all(0 <= s <= cap for s in samples)
    if jitter is None:
        assert initial == samples[0]
        assert samples == sorted(samples)


def test_of_a_list_is_that_list_then_ends() -> None:
    assert take(Backoff.of([0.1, 0.2, timedelta(seconds=0.3)]), 10) == [0.1, 0.2, 0.3]
    assert Backoff.of([1]).finite


def test_of_a_generator_replays_the_same_values_for_every_call() -> None:
    backoff = Backoff.of(x * 0.5 for x in range(3))
    assert take(backoff, 10) == [0.0, 0.5, 1.0]
    assert take(backoff, 10) == [0.0, 0.5, 1.0]
    assert not backoff.finite


def test_of_an_infinite_iterator_is_read_lazily() -> None:
    backoff = Backoff.of(itertools.count(1))
    assert take(backoff, 3) == [1.0, 2.0, 3.0]
    assert take(backoff, 4) == [1.0, 2.0, 3.0, 4.0]


def test_of_a_reiterable_is_iterated_afresh() -> None:
    class Twice:
        def __iter__(self) -> Iterator[float]:
            return iter([0.2, 0.4])

    backoff = Backoff.of(Twice())
    assert take(backoff, 5) == [0.2, 0.4]
    assert take(backoff, 5) == [0.2, 0.4]


def test_a_lazy_negative_delay_raises_config_error_when_reached() -> None:
    backoff = Backoff.of(iter([0.1, -1.0]))
    with pytest.raises(brace.ConfigError, match=r"backoff\[1\]"):
        take(backoff, 2)


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: Backoff.constant(-1), "delay"),
        (lambda: Backoff.constant(float("nan")), "delay"),
        (lambda: Backoff.linear(1, -1), "step"),
        (lambda: Backoff.linear(2, 1, max_delay=1), "max_delay"),
        (lambda: Backoff.exponential(initial=-0.1), "initial"),
        (lambda: Backoff.exponential(initial=1, max_delay=0.5), "max_delay"),
        (lambda: Backoff.exponential(multiplier=0.5), "multiplier"),
        (lambda: Backoff.exponential(multiplier=float("nan")), "multiplier"),
        (lambda: Backoff.exponential(jitter="half"), "jitter"),  # type: ignore[arg-type]
        (lambda: Backoff.exponential(max_delay=float("inf")), "max_delay"),
        (lambda: Backoff.of([0.1, float("nan")]), r"backoff\[1\]"),
        (lambda: Backoff.of("1 2 3"), "backoff"),  # type: ignore[arg-type]
        (lambda: Backoff.of(3), "backoff"),  # type: ignore[arg-type]
    ],
)
def test_bad_schedules_raise_config_error_naming_the_parameter(build: object, param: str) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        build()  # type: ignore[operator]


def test_backoffs_are_frozen_and_comparable() -> None:
    backoff = Backoff.exponential()
    with pytest.raises(AttributeError):
        backoff.initial = 5  # type: ignore[misc]
    assert Backoff.exponential() == backoff
    assert (
        repr(backoff)
        == "Backoff.exponential(initial=0.1, multiplier=2.0, max_delay=10.0, jitter='full')"
    )
    assert repr(Backoff.constant(1)) == "Backoff.constant(1.0)"
    assert repr(Backoff.of([1])) == "Backoff.of([1.0])"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"kind": "wobbly"}, "kind"),
        ({"kind": "constant", "initial": -1.0}, "initial"),
        ({"kind": "exponential", "initial": 0.0, "max_delay": 1.0}, "initial"),
        ({"kind": "exponential", "initial": 1.0, "max_delay": 0.5}, "max_delay"),
        ({"kind": "linear", "multiplier": 0.5}, "multiplier"),
        ({"kind": "exponential", "initial": 0.1, "max_delay": 1.0, "jitter": "half"}, "jitter"),
        ({"kind": "sequence"}, "values="),
        ({"kind": "sequence", "values": (1.0, -2.0)}, r"values\[1\]"),
    ],
)
def test_direct_construction_is_validated_like_the_class_methods(
    kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(brace.ConfigError, match=param):
        Backoff(**kwargs)

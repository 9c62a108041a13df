"""cubic_sparsity against hand-computed values (both shapes, before/inside/after the window)."""

from __future__ import annotations

import itertools

import pytest

from synprune.regularizers import cubic_sparsity

# (step, ease_in, ease_out) for s_i = 0.1, s_f = 0.9, start = 10, end = 20:
#   p = (step - 10) / 10;  ease_in = 0.1 + 0.8 p^3;  ease_out = 0.9 - 0.8 (1 - p)^3
HAND = [
    (0, 0.1, 0.1),  # before the window: clipped to p = 0 -> s_i
    (10, 0.1, 0.1),  # p = 0
    (12, 0.1064, 0.4904),  # p = 0.2: 0.1 + 0.8*0.008 ; 0.9 - 0.8*0.512
    (15, 0.2, 0.8),  # p = 0.5: 0.1 + 0.8*0.125 ; 0.9 - 0.8*0.125
    (18, 0.5096, 0.8936),  # p = 0.8: 0.1 + 0.8*0.512 ; 0.9 - 0.8*0.008
    (20, 0.9, 0.9),  # p = 1
    (1000, 0.9, 0.9),  # after the window: clipped to p = 1 -> s_f
]


@pytest.mark.parametrize(("step", "ease_in", "ease_out"), HAND)
def test_hand_computed_values(step: int, ease_in: float, ease_out: float) -> None:
    assert cubic_sparsity(step, 0.1, 0.9, 10, 20) == pytest.approx(ease_in, abs=1e-12)
    assert cubic_sparsity(step, 0.1, 0.9, 10, 20, "ease_in") == pytest.approx(ease_in, abs=1e-12)
    assert cubic_sparsity(step, 0.1, 0.9, 10, 20, schedule="ease_out") == pytest.approx(
        ease_out, abs=1e-12
    )


def test_zero_initial_midpoint() -> None:
    # s_i = 0, s_f = 0.5, p = 0.5: ease_in 0.5/8 = 0.0625, ease_out 0.5 - 0.5/8 = 0.4375
    assert cubic_sparsity(50, 0.0, 0.5, 0, 100) == pytest.approx(0.0625)
    assert cubic_sparsity(50, 0.0, 0.5, 0, 100, "ease_out") == pytest.approx(0.4375)


@pytest.mark.parametrize("schedule", ["ease_in", "ease_out"])
def test_monotone_and_bounded(schedule: str) -> None:
    vals = [cubic_sparsity(s, 0.2, 0.7, 5, 105, schedule) for s in range(0, 120)]
    assert all(b >= a for a, b in itertools.pairwise(vals))
    assert min(vals) == 0.2 and max(vals) == 0.7


def test_ease_in_below_ease_out_inside_window() -> None:
    for s in range(1, 100):
        assert cubic_sparsity(s, 0.0, 0.8, 0, 100) < cubic_sparsity(s, 0.0, 0.8, 0, 100, "ease_out")


def test_constant_schedule_when_initial_equals_final() -> None:
    assert {
        cubic_sparsity(s, 0.4, 0.4, 0, 10, sch)
        for s in range(12)
        for sch in ("ease_in", "ease_out")
    } == {0.4}

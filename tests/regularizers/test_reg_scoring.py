"""Scores and selection math: LAMP against hand-computed values and its definition, the capped
water-filling against the greedy walk it must equal, the smallest feasible cap."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch

from synprune.regularizers.scoring import (
    k_smallest_flat,
    lamp_scores,
    min_feasible_cap,
    smallest_k_capped,
    tensor_caps,
)


def test_lamp_hand_computed() -> None:
    # A = [0.1, -0.2, 0.3]: squares .01 .04 .09 -> .01/.14, .04/.13, .09/.09
    # B = [1, 2, -3, 4]:    squares 1 4 9 16    -> 1/30, 4/29, 9/25, 16/16
    mags = torch.tensor([0.1, 0.2, 0.3, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    got = lamp_scores(mags, [3, 4])
    want = torch.tensor([1 / 14, 4 / 13, 1.0, 1 / 30, 4 / 29, 9 / 25, 1.0], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
    # magnitude would prune all of A first; LAMP prunes B's 1 and 2 among the first three
    assert torch.equal(k_smallest_flat(mags, 3), torch.tensor([1, 1, 1, 0, 0, 0, 0]).bool())
    assert torch.equal(k_smallest_flat(got, 3), torch.tensor([1, 0, 0, 1, 1, 0, 0]).bool())
    # the two 1.0 scores tie: the earlier tensor (A's 0.3) goes first
    assert torch.equal(k_smallest_flat(got, 6), torch.tensor([1, 1, 1, 1, 1, 1, 0]).bool())


def test_lamp_ties_share_the_denominator_of_the_whole_run() -> None:
    # |w| = 2, 2, 1: "sum over |v| >= |u|" includes both 2s -> 4/8 each (not 4/8 and 4/4)
    got = lamp_scores(torch.tensor([2.0, 2.0, 1.0]), [3])
    torch.testing.assert_close(got, torch.tensor([0.5, 0.5, 1 / 9], dtype=torch.float64))
    # zeros (masked weights): score 0; an all-zero tensor: 0, not NaN
    got = lamp_scores(torch.tensor([0.0, 3.0, 0.0, 0.0, 0.0]), [2, 3])
    assert torch.equal(got, torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64))


def test_lamp_equals_its_definition_on_random_tensors_with_ties() -> None:
    g = torch.Generator().manual_seed(0)
    sizes = [7, 1, 30, 12]
    mags = torch.randn(sum(sizes), generator=g).mul(3).round().abs()  # many ties and zeros
    got = lamp_scores(mags, sizes)
    want = []
    for seg in mags.split(sizes):
        for u in seg.tolist():
            den = sum(v * v for v in seg.tolist() if v >= u)
            want.append(u * u / den if den > 0 else 0.0)
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(12))
def test_capped_selection_equals_the_greedy_walk(seed: int, greedy_capped: Callable) -> None:
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(1, 15, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g)
    sizes = sizes.tolist()
    # a few distinct values so ties are common; tensors with different scales
    scale = torch.cat([torch.full((n,), float(t + 1)) for t, n in enumerate(sizes)])
    scores = torch.randint(0, 6, (sum(sizes),), generator=g).float() * scale
    room = [int(torch.randint(0, n + 1, (1,), generator=g)) for n in sizes]
    for k in range(sum(room) + 1):
        got = smallest_k_capped(scores, k, sizes, room)
        assert got.tolist() == greedy_capped(scores.tolist(), k, sizes, room), (sizes, room, k)
        assert int(got.sum()) == k


def test_capped_selection_hand_example_and_refusal() -> None:
    # tensor 0: [1, 2, 3, 4] (room 1), tensor 1: [5, 6, 7] (room 3); k = 3
    # uncapped: 1, 2, 3 (all in tensor 0) -> clamp tensor 0 to {1}, then 5, 6 from tensor 1
    scores = torch.tensor([1.0, 2, 3, 4, 5, 6, 7])
    got = smallest_k_capped(scores, 3, [4, 3], [1, 3])
    assert got.tolist() == [True, False, False, False, True, True, False]
    with pytest.raises(ValueError, match="cannot select 5"):
        smallest_k_capped(scores, 5, [4, 3], [1, 3])


def test_tensor_caps_and_min_feasible_cap() -> None:
    assert tensor_caps([9, 9, 10], 0.5) == [4, 4, 5]
    assert tensor_caps([100], 0.29) == [29]  # 0.29 * 100 = 28.999...: tolerance
    # two 3x3 tensors need 9 masked: a cap c gives 2 * floor(9c) >= 9 from c = 5/9
    assert min_feasible_cap([9, 9], 9) == 0.5556
    assert sum(tensor_caps([9, 9], 0.5556)) >= 9 > sum(tensor_caps([9, 9], 0.5555))
    for sizes, count in itertools.product([[3, 7], [10, 10, 1], [64]], [0, 1, 5, 11]):
        if count <= sum(sizes):
            c = min_feasible_cap(sizes, count)
            assert sum(tensor_caps(sizes, c)) >= count
            assert c == 0.0 or sum(tensor_caps(sizes, c - 1e-4)) < count

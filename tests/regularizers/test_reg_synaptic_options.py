"""SynapticPruning options: score="lamp", max_tensor_sparsity, tensor_sparsity, the synaptic
regularizer's early_stop_during_schedule; refusals (infeasible cap, sharded parameters)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from synprune.errors import FieldError
from synprune.regularizers import SynapticPruning, collapsed_tensors, create_regularizer
from synprune.regularizers.scoring import lamp_scores


def two_layers(a: list[float], b: list[float]) -> nn.Module:
    """Linear(len(a) -> 1) with weights a, then Linear(1 -> len(b)) with weights b."""
    model = nn.Sequential(nn.Linear(len(a), 1, bias=False), nn.Linear(1, len(b), bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([a]))
        model[1].weight.copy_(torch.tensor(b).unsqueeze(1))
    return model


def pruned(model: nn.Module) -> list[bool]:
    return [bool(v == 0) for p in model.parameters() for v in p.detach().reshape(-1)]


def test_lamp_pruner_hand_computed() -> None:
    # A = [0.1, -0.2, 0.3] scores 1/14, 4/13, 1; B = [1, 2, -3, 4] scores 1/30, 4/29, 9/25, 1
    model = two_layers([0.1, -0.2, 0.3], [1.0, 2.0, -3.0, 4.0])
    pr = SynapticPruning(model, 5 / 7, start_step=1, end_step=2, initial_sparsity=3 / 7,
                         prune_every=1, score="lamp")  # fmt: skip
    pr.step()  # 3 lowest: B's 1 (1/30), A's 0.1 (1/14), B's 2 (4/29)
    assert pruned(model) == [True, False, False, True, True, False, False]
    pr.step()  # masked weights are 0: A = [0.2, 0.3] -> 4/13, 1; B = [3, 4] -> 9/25, 1
    assert pruned(model) == [True, True, False, True, True, True, False]
    assert pr.num_masked == 5 and pr.score == "lamp"
    assert pr.state_dict()["config"]["score"] == "lamp"
    magnitude = two_layers([0.1, -0.2, 0.3], [1.0, 2.0, -3.0, 4.0])
    SynapticPruning(magnitude, 3 / 7, start_step=0, end_step=1, initial_sparsity=3 / 7).step()
    assert pruned(magnitude) == [True, True, True, False, False, False, False]


def small_and_large(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        model[0].weight.mul_(0.01)  # every weight of tensor 0 is smaller than tensor 1's
    return model


@pytest.mark.parametrize("score", ["magnitude", "lamp"])
def test_cap_limits_each_tensor_and_keeps_the_global_count(
    score: str, greedy_capped: Callable
) -> None:
    model = small_and_large()
    mags = torch.cat([p.detach().abs().reshape(-1) for p in model.parameters()])
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1, initial_sparsity=0.5,
                         max_tensor_sparsity=0.75, score=score)  # fmt: skip
    pr.step()
    assert pr.num_masked == 16  # floor(0.5 * 32), met exactly
    scores = mags if score == "magnitude" else lamp_scores(mags, [16, 16])
    want = greedy_capped(scores.tolist(), 16, [16, 16], [12, 12])  # floor(0.75 * 16) = 12
    assert pruned(model) == want
    ts = pr.tensor_sparsity()
    assert ts == {"0.weight": sum(want[:16]) / 16, "1.weight": sum(want[16:]) / 16}
    if score == "magnitude":  # uncapped, all 16 would come from the small tensor
        assert ts == {"0.weight": 12 / 16, "1.weight": 4 / 16}


def test_cap_through_training_never_exceeded_never_regrows(mlp: Callable) -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    pr = SynapticPruning(model, 0.7, start_step=1, end_step=30, prune_every=2,
                         max_tensor_sparsity=0.75)  # fmt: skip
    caps = {n: math.floor(0.75 * p.numel()) for n, p in model.named_parameters() if "weight" in n}
    prev = None
    for _ in range(35):
        opt.zero_grad()
        model(torch.randn(8, 6)).pow(2).mean().backward()
        opt.step()
        pr.step()
        masks = pr.masks
        for n, keep in masks.items():
            assert int((~keep).sum()) <= caps[n]
        now = torch.cat([~m.reshape(-1) for m in masks.values()])
        assert prev is None or torch.all(now >= prev)
        prev = now
    assert pr.num_masked == math.floor(0.7 * pr.num_prunable)
    # the small output layer (12 weights) is capped at 9 although its weights may be smallest
    assert max(pr.tensor_sparsity().values()) <= 0.75


def test_infeasible_cap_is_refused_naming_both_numbers() -> None:
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    with pytest.raises(FieldError) as info:
        SynapticPruning(model, 0.5, start_step=0, end_step=1, max_tensor_sparsity=0.5)
    err = info.value
    assert (err.field, err.value) == ("max_tensor_sparsity", 0.5)
    # needs floor(0.5 * 18) = 9, caps allow 4 + 4 = 8; 5/9 would do
    assert "must mask 9 of the 18" in err.allowed and "allows only 8" in err.allowed
    assert err.allowed.startswith(">= 0.5556 here")
    SynapticPruning(model, 0.5, start_step=0, end_step=1, max_tensor_sparsity=0.5556)


def test_load_state_dict_refuses_masks_over_the_cap() -> None:
    src = SynapticPruning(small_and_large(), 0.5, start_step=0, end_step=1, initial_sparsity=0.5)
    src.step()  # all 16 in tensor 0
    dst = SynapticPruning(small_and_large(), 0.5, start_step=0, end_step=1,
                          max_tensor_sparsity=0.75)  # fmt: skip
    with pytest.raises(ValueError, match=r"max_tensor_sparsity=0\.75.*0\.weight"):
        dst.load_state_dict(src.state_dict())


def test_tensor_sparsity_and_collapsed_tensors() -> None:
    pr = SynapticPruning(small_and_large(), 0.5, start_step=0, end_step=1, initial_sparsity=0.5)
    assert pr.tensor_sparsity() == {"0.weight": 0.0, "1.weight": 0.0}
    pr.step()
    ts = pr.tensor_sparsity()
    assert ts == {"0.weight": 1.0, "1.weight": 0.0}
    assert ts == {n: t["sparsity"] for n, t in pr.report()["tensors"].items()}
    assert collapsed_tensors(ts) == ["0.weight"]
    assert collapsed_tensors({"a": 0.99, "b": 0.989, "c": 0.5}) == ["a"]
    assert collapsed_tensors({"b": 0.9, "a": 0.95}, threshold=0.9) == ["a", "b"]
    with pytest.raises(FieldError, match="threshold"):
        collapsed_tensors(ts, threshold=0.0)


def test_synaptic_regularizer_options_reach_the_pruner(tiny_forecaster: type) -> None:
    reg = create_regularizer("synaptic", final_sparsity=0.6, max_tensor_sparsity=0.8,
                             score="lamp")  # fmt: skip
    assert reg.tensor_sparsity() == {}  # before attach
    model = tiny_forecaster()
    reg.attach(model, total_steps=10)
    assert (reg.pruner.score, reg.pruner.max_tensor_sparsity) == ("lamp", 0.8)
    for step in range(1, 11):
        reg.after_optimizer_step(step)
    ts = reg.tensor_sparsity()
    assert set(ts) == set(reg.pruner.masks) and max(ts.values()) <= 0.8
    assert reg.metrics()["sparsity"] == math.floor(0.6 * reg.pruner.num_prunable) / (
        reg.pruner.num_prunable
    )


def test_early_stop_during_schedule(tiny_forecaster: type) -> None:
    default = create_regularizer("synaptic", start_frac=0.2, end_frac=0.8)
    paper = create_regularizer("synaptic", start_frac=0.2, end_frac=0.8,
                               early_stop_during_schedule=True)  # fmt: skip
    assert not default.settled() and paper.settled()  # before attach too
    for reg in (default, paper):
        reg.attach(tiny_forecaster(), total_steps=10)  # end_step = 8
    for step in range(1, 11):
        default.after_optimizer_step(step)
        paper.after_optimizer_step(step)
        assert paper.settled()
        assert default.settled() == (step >= 8)
    assert paper.params()["early_stop_during_schedule"] is True


def test_sharded_selection_refuses_lamp_and_cap() -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        group = dist.group.WORLD
        kw = {"final_sparsity": 0.5, "start_step": 1, "end_step": 2, "group": group}
        with pytest.raises(FieldError, match="score='lamp' is invalid; allowed: 'magnitude' for"):
            SynapticPruning(nn.Linear(4, 4), score="lamp", **kw)
        with pytest.raises(FieldError, match=r"max_tensor_sparsity=0\.9 .*1\.0 for sharded"):
            SynapticPruning(nn.Linear(4, 4), max_tensor_sparsity=0.9, **kw)
        pr = SynapticPruning(nn.Linear(4, 4), initial_sparsity=0.5, **kw)  # magnitude: fine
        pr.step()
        assert pr.num_masked == 8
        pr.remove()
    finally:
        dist.destroy_process_group()

"""SynapticPruning: exact counts, global selection vs a kthvalue oracle, ties, monotone masks,
zeros through optimizers, in-place masking (deepcopy / state_dict keys), resume."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from synprune.regularizers import SynapticPruning, cubic_sparsity


def flat_abs(pr: SynapticPruning, model: nn.Module) -> torch.Tensor:
    params = dict(model.named_parameters())
    return torch.cat([params[n].detach().abs().reshape(-1) for n in pr.parameter_names])


def flat_pruned(pr: SynapticPruning) -> torch.Tensor:
    return torch.cat([~m.reshape(-1) for m in pr.masks.values()])


def mixed_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.ModuleDict(
        {"conv": nn.Conv1d(3, 4, 3), "lstm": nn.LSTM(4, 5), "head": nn.Linear(5, 2)}
    )


def test_global_selection_matches_kthvalue_oracle() -> None:
    model = mixed_model()
    pr = SynapticPruning(model, 0.6, start_step=1, end_step=2, initial_sparsity=0.3, prune_every=1)
    n = pr.num_prunable
    w0 = flat_abs(pr, model)
    pr.step()  # step 1 = start: target initial 0.3
    k1 = math.floor(0.3 * n)
    kth = torch.kthvalue(w0, k1).values
    assert torch.equal(flat_pruned(pr), w0 <= kth)  # continuous weights: no ties
    assert pr.num_masked == int(flat_pruned(pr).sum()) == k1
    assert pr.sparsity == k1 / n
    # per-tensor sparsities differ: the ranking is global, not per layer
    assert len({round(t["sparsity"], 3) for t in pr.report()["tensors"].values()}) > 1

    with torch.no_grad():  # "training" moves the active weights
        for name, p in model.named_parameters():
            if name in pr.masks:
                p.add_(torch.randn_like(p) * 0.3 * pr.masks[name])
    old = flat_pruned(pr)
    w1 = flat_abs(pr, model)
    pr.step()  # step 2 = end: target 0.6, chosen among the ACTIVE weights only
    k2 = math.floor(0.6 * n)
    kth2 = torch.kthvalue(w1[~old], k2 - k1).values
    assert torch.equal(flat_pruned(pr), old | (~old & (w1 <= kth2)))
    assert pr.num_masked == int(flat_pruned(pr).sum()) == k2


def test_exact_floor_count_on_schedule(mlp: Callable[..., nn.Module]) -> None:
    model = mlp()
    pr = SynapticPruning(model, 0.8, start_step=3, end_step=40, prune_every=4, schedule="ease_out")
    n = pr.num_prunable
    for step in range(1, 50):
        pr.step()
        due = 3 <= step <= 40 and ((step - 3) % 4 == 0 or step == 40)
        if step < 3:
            assert pr.num_masked == 0
        if due:
            want = math.floor(cubic_sparsity(step, 0.0, 0.8, 3, 40, "ease_out") * n + 1e-9)
            assert pr.num_masked == want == int(flat_pruned(pr).sum())
    assert pr.num_masked == math.floor(0.8 * n)


def test_floor_is_robust_to_float_roundoff() -> None:
    model = nn.Linear(10, 10, bias=False)  # N = 100; 0.29 * 100 == 28.999999999999996
    pr = SynapticPruning(model, 0.29, start_step=0, end_step=1, initial_sparsity=0.29)
    pr.step()
    assert pr.num_masked == 29 == int((model.weight == 0).sum())


def test_ties_are_broken_deterministically_by_tensor_then_flat_order() -> None:
    def run() -> list[torch.Tensor]:
        model = nn.Sequential(nn.Linear(6, 5, bias=False), nn.Linear(5, 4, bias=False))
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.5)  # all equal magnitudes
        pr = SynapticPruning(model, 0.5, start_step=1, end_step=2, initial_sparsity=0.2)
        pr.step()
        first = flat_pruned(pr)
        pr.step()
        return [first, flat_pruned(pr)]

    a, b = run(), run()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    n = 50
    assert torch.equal(a[0], torch.arange(n) < math.floor(0.2 * n))  # first 10 in order
    assert torch.equal(a[1], torch.arange(n) < math.floor(0.5 * n))  # then the next 15


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    "adam_amsgrad": lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw_wd": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "sgd_momentum_wd": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("late_attach", [False, True])
def test_masked_weights_stay_exactly_zero(
    opt_name: str, late_attach: bool, mlp: Callable[..., nn.Module]
) -> None:
    model = mlp()
    opt = OPTIMIZERS[opt_name](model.parameters())
    pr = SynapticPruning(model, 0.7, start_step=2, end_step=30, prune_every=3,
                         optimizer=None if late_attach else opt)  # fmt: skip
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(0)
    prev = flat_pruned(pr)
    for step in range(1, 61):
        if late_attach and step == 10:
            pr.attach_optimizer(opt)  # state of already-masked weights is zeroed here
        x, y = torch.randn(8, 6, generator=g), torch.randn(8, 1, generator=g)
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        masks = pr.masks
        for n, keep in masks.items():  # gradients of masked weights are zeroed at accumulation
            assert torch.all(params[n].grad[~keep] == 0)
        opt.step()
        if not late_attach or step >= 10:  # post-step hook: zero right after optimizer.step()
            for n, keep in masks.items():
                assert torch.all(params[n][~keep] == 0), (opt_name, step, n)
        pr.step()
        now = flat_pruned(pr)
        assert torch.all(now >= prev)  # masks never regrow
        prev = now
        for n, keep in pr.masks.items():
            assert torch.all(params[n][~keep] == 0)
    assert pr.sparsity == math.floor(0.7 * pr.num_prunable) / pr.num_prunable
    for n, keep in pr.masks.items():  # optimizer state of masked weights is zero
        state = opt.state[params[n]]
        bufs = [v for v in state.values() if torch.is_tensor(v) and v.shape == keep.shape]
        assert bufs and all(torch.all(v[~keep] == 0) for v in bufs)
    before = {n: params[n].detach().clone() for n in pr.masks}
    opt.zero_grad()
    model(torch.randn(8, 6, generator=g)).pow(2).mean().backward()
    opt.step()
    moved = sum(int((params[n][keep] != before[n][keep]).sum()) for n, keep in pr.masks.items())
    assert moved > 0  # active weights keep learning


def test_masks_monotone_under_large_updates(mlp: Callable[..., nn.Module]) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    pr = SynapticPruning(model, 0.9, start_step=0, end_step=200, prune_every=1, optimizer=opt)
    prev = flat_pruned(pr)
    counts = []
    for _ in range(200):
        opt.zero_grad()
        model(torch.randn(16, 6)).pow(2).mean().backward()
        opt.step()
        pr.step()
        now = flat_pruned(pr)
        assert torch.all(now >= prev)
        prev = now
        counts.append(pr.num_masked)
    assert counts == sorted(counts) and counts[-1] == math.floor(0.9 * pr.num_prunable)


def test_in_place_masks_keep_state_dict_keys_and_deepcopy(tiny_forecaster: type) -> None:
    model = tiny_forecaster()
    keys = list(model.state_dict())
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1)
    pr.step()
    assert list(model.state_dict()) == keys  # no weight_orig / weight_mask
    assert not any(n.endswith("_orig") for n, _ in model.named_parameters())
    clone = copy.deepcopy(model)
    for n, keep in pr.masks.items():
        assert torch.all(dict(clone.named_parameters())[n][~keep] == 0)
    out = clone(torch.randn(2, 4, 3))
    out.sum().backward()  # the copy has no pruner hooks and trains normally
    assert out.shape == (2, 2)


def train_batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 5, 3, generator=g), torch.randn(4, 2, generator=g)) for _ in range(n)]


def run_steps(model: nn.Module, opt: torch.optim.Optimizer, pr: SynapticPruning,
              batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:  # fmt: skip
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        pr.step()


def test_resume_is_bit_identical(tiny_forecaster: type) -> None:
    def make(seed: int) -> tuple[nn.Module, torch.optim.Optimizer, SynapticPruning]:
        torch.manual_seed(seed)
        model = tiny_forecaster()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        pr = SynapticPruning(model, 0.75, start_step=2, end_step=20, prune_every=3, optimizer=opt)
        return model, opt, pr

    batches = train_batches(22, seed=3)
    model, opt, pr = make(0)
    run_steps(model, opt, pr, batches[:8])
    saved = copy.deepcopy(
        {"model": model.state_dict(), "opt": opt.state_dict(), "pruner": pr.state_dict()}
    )
    run_steps(model, opt, pr, batches[8:])

    model2, opt2, pr2 = make(123)  # different init: everything must come from the checkpoint
    model2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    pr2.load_state_dict(saved["pruner"])
    assert pr2.current_step == 8
    run_steps(model2, opt2, pr2, batches[8:])

    for (n, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert torch.equal(a, b), n
    assert all(torch.equal(pr.masks[n], pr2.masks[n]) for n in pr.masks)
    assert pr.sparsity == pr2.sparsity > 0.7


def test_load_state_dict_rejects_foreign_masks(mlp: Callable[..., nn.Module]) -> None:
    pr = SynapticPruning(mlp(), 0.5, start_step=0, end_step=1)
    other = SynapticPruning(nn.Linear(3, 3), 0.5, start_step=0, end_step=1)
    with pytest.raises(ValueError, match="do not match"):
        pr.load_state_dict(other.state_dict())


def test_report_and_remove(mlp: Callable[..., nn.Module]) -> None:
    model = mlp()
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1)
    pr.step()
    rep = pr.report()
    assert rep["global"] == {"numel": pr.num_prunable, "pruned": pr.num_masked, "sparsity": 0.5}
    assert sum(t["pruned"] for t in rep["tensors"].values()) == pr.num_masked
    for n, t in rep["tensors"].items():
        assert t["pruned"] == int((~pr.masks[n]).sum())
        assert t["sparsity"] == t["pruned"] / t["numel"]
    pr.remove()  # hooks gone: gradients of masked weights are no longer zeroed
    model(torch.randn(4, 6)).sum().backward()
    w = model[0].weight
    assert torch.any(w.grad[~pr.masks["0.weight"]] != 0)


@pytest.mark.parametrize("ties", [False, True])
def test_local_selection_equals_distributed_smallest_k_mask(ties: bool) -> None:
    from synprune.regularizers.distributed import smallest_k_mask
    from synprune.regularizers.selection import k_smallest_flat

    g = torch.Generator().manual_seed(0)
    ts = [
        torch.randn(7, 5, generator=g),
        torch.randn(40, generator=g),
        torch.randn(3, 4, 2, generator=g),
    ]
    if ties:  # many equal magnitudes (and signs), as after rounding
        ts = [t.mul(2).round().div(2) for t in ts]
    mags = torch.cat([t.abs().reshape(-1) for t in ts])
    for k in (0, 1, 13, 50, 66, mags.numel()):
        want = torch.cat([m.reshape(-1) for m in smallest_k_mask(ts, k)])
        got = k_smallest_flat(mags, k)
        assert torch.equal(got, want) and int(got.sum()) == k


def test_nan_weights_are_refused() -> None:
    model = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    pr = SynapticPruning(model, 0.5, start_step=0, end_step=1)
    with pytest.raises(ValueError, match="NaN"):
        pr.step()

"""SynapticPruning under DDP: 2 real gloo ranks (spawned), replicated LSTM forecaster.

One spawn runs two parts and saves each rank's observations; the pytest process compares them:

* a hand-written DDP loop (different data per rank, 24 steps, 7 prune updates) that records
  what the pruner does around DDP's gradient all-reduce and counts the collectives it issues;
* the pipeline's own ``fit`` with a DDP-wrapped model and ``SynapticRegularizer`` on the
  ``synthetic`` dataset, ranks sharding the batches as ``run_distributed_trial`` does.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
from gloo_ranks import run_ranks
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

pytestmark = pytest.mark.distributed

WORLD = 2
_COLLECTIVES = ("all_reduce", "broadcast", "all_gather", "all_gather_object", "reduce_scatter")


def _digest(tensors: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        a = t.detach().cpu().contiguous().numpy()
        h.update(np.packbits(a).tobytes() if a.dtype == np.bool_ else a.tobytes())
    return h.hexdigest()


def _pruner_state(model: nn.Module, pruner: Any, opt: torch.optim.Optimizer) -> dict[str, Any]:
    params = dict(model.named_parameters())
    masks = pruner.masks
    pruned = [~m for m in masks.values()]
    adam = [
        opt.state[params[n]][k][~m].abs().max().item() if (~m).any() else 0.0
        for n, m in masks.items()
        for k in ("exp_avg", "exp_avg_sq")
    ]
    return {
        "N": pruner.num_prunable,
        "num_masked": pruner.num_masked,
        "mask_pruned_sum": int(sum(int(p.sum()) for p in pruned)),
        "mask_digest": _digest(list(masks.values())),
        "weight_digest": _digest([p for p in model.parameters()]),
        "max_abs_masked_weight": max(
            (params[n].detach()[~m].abs().max().item() if (~m).any() else 0.0)
            for n, m in masks.items()
        ),
        "max_abs_masked_adam_state": max(adam),
        "sparsity": pruner.sparsity,
        "mask_ids_in_buffers": any(
            any(b.data_ptr() == m.data_ptr() for b in model.buffers())
            for m in pruner._pruned  # the pruner's internal masks are not module buffers
        ),
    }


def _manual_loop(rank: int) -> dict[str, Any]:
    from synprune.models import create_model
    from synprune.regularizers import SynapticPruning

    torch.manual_seed(0)
    model = create_model("lstm", n_features=3, seq_len=8, horizon=2, hidden_size=8, num_layers=2)
    ddp = DDP(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-2)
    pruner = SynapticPruning(
        model, final_sparsity=0.7, start_step=3, end_step=21, prune_every=3, optimizer=opt
    )
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data, as under DDP
    calls: list[str] = []
    real = {name: getattr(dist, name) for name in _COLLECTIVES}

    def counting(name: str) -> Any:
        def call(*a: Any, **kw: Any) -> Any:
            calls.append(name)
            return real[name](*a, **kw)

        return call

    grad_after_backward, weight_after_opt_step, updates = [], [], 0
    for _ in range(24):
        x, y = torch.randn(16, 8, 3, generator=gen), torch.randn(16, 2, generator=gen)
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(ddp(x), y).backward()  # DDP all-reduces the gradients here
        pruned = {n: ~m for n, m in pruner.masks.items()}
        params = dict(model.named_parameters())
        grad_after_backward.append(
            max(
                (params[n].grad[m].abs().max().item() if m.any() else 0.0)
                for n, m in pruned.items()
            )
        )
        opt.step()
        weight_after_opt_step.append(
            max(
                (params[n].detach()[m].abs().max().item() if m.any() else 0.0)
                for n, m in pruned.items()
            )
        )
        before = pruner.num_masked
        for name in _COLLECTIVES:
            setattr(dist, name, counting(name))
        try:
            pruner.step()
        finally:
            for name in _COLLECTIVES:
                setattr(dist, name, real[name])
        updates += pruner.num_masked != before
    out = _pruner_state(model, pruner, opt)
    out.update(
        target_count=pruner.target_count(0.7),
        collectives_in_pruner_step=calls,
        prune_updates=updates,
        max_masked_grad_after_backward=max(grad_after_backward),
        max_masked_weight_after_opt_step=max(weight_after_opt_step),
    )
    return out


def _pipeline_fit(rank: int, world: int) -> dict[str, Any]:
    from synprune.datasets import load_dataset, prepare_windows
    from synprune.experiment.spec import TrainSpec
    from synprune.experiment.train import fit
    from synprune.models import create_model
    from synprune.regularizers import create_regularizer

    windows = prepare_windows(load_dataset("synthetic"), 8, 1)
    torch.manual_seed(1)
    reg = create_regularizer("synaptic", final_sparsity=0.6, prune_every=2)
    model = create_model("lstm", n_features=3, seq_len=8, horizon=1, hidden_size=8, num_layers=1)
    ddp = DDP(model)
    train = TrainSpec(epochs=2, batch_size=64, patience=0, lr=1e-2, grad_clip=1.0)
    fitted = fit(ddp, reg, windows, train, seed=0, rank=rank, world_size=world, attach_to=model)
    pruner = reg.pruner
    assert pruner is not None
    out = _pruner_state(model, pruner, pruner.optimizers[0])
    out.update(
        history=[(h["train_loss"], h["val_loss"], h["sparsity"]) for h in fitted.history],
        target_count=pruner.target_count(pruner.sparsity),
        steps=pruner.current_step,
    )
    return out


def _worker(rank: int, world: int) -> dict[str, Any]:
    out: dict[str, Any] = {"manual": _manual_loop(rank), "fit": _pipeline_fit(rank, world)}
    # checksums compared on every rank too (all ranks must agree)
    sums = torch.tensor(
        [out["manual"]["mask_pruned_sum"], out["fit"]["mask_pruned_sum"]], dtype=torch.int64
    )
    lo, hi = sums.clone(), sums.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    digests: list[Any] = [None] * world
    dist.all_gather_object(digests, [out[p]["mask_digest"] for p in ("manual", "fit")])
    out["all_reduced_sums_equal"] = bool(torch.equal(lo, hi))
    out["all_digests_equal"] = all(d == digests[0] for d in digests)
    return out


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return run_ranks(_worker, WORLD, tmp_path_factory.mktemp("ddp"))


@pytest.mark.parametrize("part", ["manual", "fit"])
def test_ddp_masks_identical_exact_count_and_zero(ranks: list[dict[str, Any]], part: str) -> None:
    r0, r1 = ranks[0][part], ranks[1][part]
    assert all(r["all_reduced_sums_equal"] and r["all_digests_equal"] for r in ranks)
    assert r0["mask_digest"] == r1["mask_digest"]
    assert r0["weight_digest"] == r1["weight_digest"]  # replicas stay bit-identical
    for r in (r0, r1):
        assert r["num_masked"] == r["mask_pruned_sum"] == r["target_count"] > 0
        assert r["num_masked"] == math.floor(r["sparsity"] * r["N"] + 1e-9)
        assert r["max_abs_masked_weight"] == 0.0
        assert r["max_abs_masked_adam_state"] == 0.0
        assert r["mask_ids_in_buffers"] is False


def test_ddp_manual_loop_no_pruner_collectives_and_grads(ranks: list[dict[str, Any]]) -> None:
    for r in ranks:
        m = r["manual"]
        assert m["target_count"] == math.floor(0.7 * m["N"])  # end_step reached: final sparsity
        assert m["prune_updates"] == 6  # steps 6, 9, ..., 21 (at step 3 the target is 0)
        assert m["collectives_in_pruner_step"] == []  # DDP replicas select locally
        # masked gradients are zero after DDP's all-reduce (the post-accumulate hook runs
        # before the reducer reads the gradient), so clipping sees zeros, and masked weights
        # are zero right after optimizer.step()
        assert m["max_masked_grad_after_backward"] == 0.0
        assert m["max_masked_weight_after_opt_step"] == 0.0


def test_ddp_fit_history_identical_across_ranks(ranks: list[dict[str, Any]]) -> None:
    h0, h1 = ranks[0]["fit"]["history"], ranks[1]["fit"]["history"]
    assert len(h0) == 2
    assert [v for _, v, _ in h0] == [v for _, v, _ in h1]  # same val loss: same weights
    assert [t for t, *_ in h0] == [t for t, *_ in h1]  # train loss averaged over the ranks
    assert [s for *_, s in h0] == [s for *_, s in h1]
    assert h0[-1][2] == pytest.approx(0.6, abs=0.01)
    assert ranks[0]["fit"]["steps"] >= 6  # the best epoch's pruner state was restored

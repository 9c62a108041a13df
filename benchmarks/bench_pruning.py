"""Speed of synaptic pruning: one mask update vs torch.nn.utils.prune, and per-epoch overhead.

    python benchmarks/bench_pruning.py [--quick] [--threads N] [--device cpu|cuda]

Part 1 -- one mask update from dense to 50 % sparsity, for ~19 k (an LSTM-64 forecaster:
LSTM(5, 64) + Linear(64, 24)), ~100 k and ~2 M prunable weights. Each repetition works on a
fresh ``deepcopy`` of the model (copy time excluded); after warm-up the median of several
repetitions is reported for

* ``torch.prune``: ``prune.global_unstructured(params, pruning_method=prune.L1Unstructured,
  amount=0.5)``;
* ``synprune update``: ``pruner.step()`` of a pruner whose schedule targets 0.5 at that step;
* ``synprune total``: constructor (parameter selection, mask allocation, hooks) + that step.

Part 2 -- per-epoch training time of the LSTM-64 forecaster (seq_len 30, batch 32, random
data, Adam) dense vs with ``SynapticPruning(prune_every=10)`` active for the whole run
(worst case: an update every 10 steps); dense and pruned alternate every 10 batches, the
median epoch is reported.

Part 3 -- scores and caps side by side (issue 10): one mask update 50 % -> 70 % (masks
already present, so the active-weight compaction is included) of the same fresh copies with
``score="magnitude"``, ``score="lamp"`` (Lee et al. 2021: one sort per tensor) and
``score="magnitude", max_tensor_sparsity=0.75`` (water-filling), interleaved per repetition;
ratios to magnitude are printed. The head's weights are scaled by 0.05 first, so that
magnitude pruning would take all of the head and the cap really binds (two passes).

Targets (issue 2): 2 M update <= 0.5x torch.prune; pruning overhead <= 5 % of an epoch.
This script prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import prune

from synprune.regularizers import SynapticPruning


class Forecaster(nn.Module):
    """Minimal LSTM forecaster: x [B, L, C] -> [B, H] from the last hidden state."""

    def __init__(self, n_features: int = 5, hidden: int = 64, horizon: int = 24) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


SIZES: dict[str, Callable[[], nn.Module]] = {
    "~19k (LSTM-64)": lambda: Forecaster(5, 64, 24),  # 4*64*(5+64) + 64*24 = 19,200
    "~100k (LSTM-150)": lambda: Forecaster(5, 150, 24),  # 4*150*155 + 150*24 = 96,600
    "~2M (LSTM-700)": lambda: Forecaster(5, 700, 24),  # 4*700*705 + 700*24 = 1,990,800
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The same tensors SynapticPruning selects, as (module, name) pairs for torch.prune."""
    out: list[tuple[nn.Module, str]] = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            out.append((m, "weight"))
        elif isinstance(m, nn.LSTM):
            out += [(m, n) for n in m._flat_weights_names if n.startswith("weight_")]
    return out


def time_update(
    make: Callable[[], nn.Module], device: torch.device, reps: int, warmup: int
) -> dict[str, float]:
    base = make().to(device)
    times: dict[str, list[float]] = {"torch": [], "update": [], "total": []}
    for rep in range(warmup + reps):
        # torch.nn.utils.prune: global L1 to 50 % on a fresh copy
        m = copy.deepcopy(base)
        sync(device)
        t0 = time.perf_counter()
        prune.global_unstructured(prunable(m), pruning_method=prune.L1Unstructured, amount=0.5)
        sync(device)
        t_torch = time.perf_counter() - t0
        # synprune: schedule whose target at step 1 is 0.5
        m = copy.deepcopy(base)
        sync(device)
        t0 = time.perf_counter()
        pr = SynapticPruning(m, 0.5, start_step=1, end_step=2, initial_sparsity=0.5)
        sync(device)
        t1 = time.perf_counter()
        pr.step()
        sync(device)
        t2 = time.perf_counter()
        assert pr.num_masked == pr.num_prunable // 2
        if rep >= warmup:
            times["torch"].append(t_torch)
            times["update"].append(t2 - t1)
            times["total"].append(t2 - t0)
    n = sum(getattr(mod, name).numel() for mod, name in prunable(base))
    return {"n": n, **{k: statistics.median(v) for k, v in times.items()}}


VARIANTS: dict[str, dict[str, object]] = {
    "magnitude": {},
    "lamp": {"score": "lamp"},
    "magnitude+cap0.75": {"max_tensor_sparsity": 0.75},
}


def time_variants(
    make: Callable[[], nn.Module], device: torch.device, reps: int, warmup: int
) -> dict[str, float]:
    """Median time of one update 50 % -> 70 % per variant (fresh copy each, interleaved)."""
    base = make().to(device)
    with torch.no_grad():
        base.head.weight.mul_(0.05)  # type: ignore[union-attr]  # the cap binds on the head
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for rep in range(warmup + reps):
        for name, kw in VARIANTS.items():
            m = copy.deepcopy(base)
            pr = SynapticPruning(m, 0.7, start_step=1, end_step=2, initial_sparsity=0.5,
                                 prune_every=1, **kw)  # type: ignore[arg-type]  # fmt: skip
            pr.step()  # dense -> 50 % (not timed)
            sync(device)
            t0 = time.perf_counter()
            pr.step()  # 50 % -> 70 %
            sync(device)
            if rep >= warmup:
                times[name].append(time.perf_counter() - t0)
            assert pr.num_masked == int(0.7 * pr.num_prunable + 1e-9)
            pr.remove()
    return {k: statistics.median(v) for k, v in times.items()}


def time_epochs(
    device: torch.device, batches: int, epochs: int, prune_every: int = 10
) -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    data = [
        (
            torch.randn(32, 30, 5, generator=g).to(device),
            torch.randn(32, 24, generator=g).to(device),
        )
        for _ in range(batches)
    ]
    loss_fn = nn.MSELoss()
    setups = {}
    for name in ("dense", "pruned"):
        torch.manual_seed(0)
        model = Forecaster().to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        pr = None
        if name == "pruned":  # active during every timed epoch: an update every 10 steps
            total = (epochs + 1) * batches
            pr = SynapticPruning(model, 0.9, start_step=0, end_step=total,
                                 prune_every=prune_every, optimizer=opt)  # fmt: skip
        setups[name] = (model, opt, pr)

    def run(name: str, chunk: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
        model, opt, pr = setups[name]
        in_step = 0.0
        sync(device)
        t0 = time.perf_counter()
        for x, y in chunk:
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
            if pr is not None:
                t = time.perf_counter()
                pr.step()
                sync(device)
                in_step += time.perf_counter() - t
        sync(device)
        return time.perf_counter() - t0, in_step

    # Dense and pruned alternate every prune cycle (10 batches, order flipped each time), so
    # load from other processes on a shared machine hits both alike.
    chunks = [data[i : i + prune_every] for i in range(0, batches, prune_every)]
    run("dense", data), run("pruned", data)  # warm-up epoch
    res: dict[str, list[float]] = {"dense": [], "pruned": [], "in_step": []}
    for _ in range(epochs):
        tot = {"dense": 0.0, "pruned": 0.0, "in_step": 0.0}
        for j, chunk in enumerate(chunks):
            for name in ("dense", "pruned") if j % 2 == 0 else ("pruned", "dense"):
                t, s = run(name, chunk)
                tot[name] += t
                tot["in_step"] += s
        for k, v in tot.items():
            res[k].append(v)
    out = {k: statistics.median(v) for k, v in res.items()}
    pr = setups["pruned"][2]
    out["sparsity"] = pr.sparsity if pr is not None else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and batches")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    reps, warmup = (3, 1) if args.quick else (9, 2)
    batches, epochs = (100, 3) if args.quick else (300, 5)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")

    print("\nOne mask update, dense -> 50 % (median of", reps, "fresh copies, ms)")
    hdr = f"{'model':<18}{'weights':>10}{'torch.prune':>13}{'synprune upd':>14}"
    print(hdr + f"{'synprune total':>16}{'upd/torch':>11}{'total/torch':>13}")
    for label, make in SIZES.items():
        r = time_update(make, device, reps, warmup)
        print(
            f"{label:<18}{int(r['n']):>10,}{r['torch'] * 1e3:>13.2f}{r['update'] * 1e3:>14.2f}"
            f"{r['total'] * 1e3:>16.2f}{r['update'] / r['torch']:>11.2f}"
            f"{r['total'] / r['torch']:>13.2f}"
        )

    print("\nOne mask update 50 % -> 70 % by score / cap (median of", reps, "fresh copies, ms)")
    names = list(VARIANTS)
    print(f"{'model':<18}" + "".join(f"{n:>19}" for n in names)
          + "".join(f"{n + '/mag':>22}" for n in names[1:]))  # fmt: skip
    for label, make in SIZES.items():
        r = time_variants(make, device, reps, warmup)
        print(f"{label:<18}" + "".join(f"{r[n] * 1e3:>19.2f}" for n in names)
              + "".join(f"{r[n] / r['magnitude']:>22.2f}" for n in names[1:]))  # fmt: skip

    print(f"\nEpoch of LSTM-64 forecaster ({batches} batches of 32 x 30 x 5, Adam), median of "
          f"{epochs} epochs (interleaved every 10 batches)")  # fmt: skip
    r = time_epochs(device, batches, epochs)
    over = (r["pruned"] - r["dense"]) / r["dense"] * 100
    print(f"{'dense':<28}{r['dense'] * 1e3:>10.1f} ms")
    print(f"{'synaptic (prune_every=10)':<28}{r['pruned'] * 1e3:>10.1f} ms")
    print(f"{'overhead (epoch difference)':<28}{over:>10.1f} %")
    print(f"{'  of which in pruner.step()':<28}{r['in_step'] * 1e3:>10.1f} ms "
          f"({r['in_step'] / r['dense'] * 100:.1f} % of a dense epoch)")  # fmt: skip
    print(f"{'sparsity reached':<28}{r['sparsity']:>10.3f}")


if __name__ == "__main__":
    main()

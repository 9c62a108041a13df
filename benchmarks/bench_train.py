"""Epoch time per model x shipped dataset, and test MAE next to the naive forecast.

Prints two tables (asserts nothing):

1. median seconds per training epoch for every registered model on every shipped dataset
   present in SYNPRUNE_DATA_DIR (CPU, and CUDA too when available);
2. test MAE vs naive (persistence) MAE for LSTM and PatchTST on each shipped dataset, with the
   leak-free protocol of ``synprune train`` (early stopping on val, best weights restored).

    python benchmarks/bench_train.py [--quick] [--threads N] [--seq-len 14] [--epochs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from synprune.datasets import load_dataset, prepare_windows
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.train import fit
from synprune.experiment.trial import build, run_trial
from synprune.models import list_models

SHIPPED = ("bitcoin", "aapl", "air_quality", "etth1", "exchange_rate")


def available(names: tuple[str, ...]) -> list[str]:
    out = []
    for name in names:
        try:
            load_dataset(name)
            out.append(name)
        except Exception as exc:
            print(f"skipping {name}: {str(exc).splitlines()[0][:100]}")
    return out


def epoch_seconds(model: str, dataset: str, seq_len: int, epochs: int, device: str) -> float:
    spec = TrialSpec(
        dataset=dataset,
        model=ComponentSpec(model),
        regularizer=ComponentSpec("none"),
        seq_len=seq_len,
        train=TrainSpec(epochs=epochs, patience=0, device=device),
    )
    windows = prepare_windows(load_dataset(dataset), seq_len, 1)
    net, reg = build(spec, windows)
    net.to(device)
    res = fit(net, reg, windows, spec.train, seed=0, device=device)
    # epoch_seconds includes the validation pass, as a user experiences it
    return statistics.median(h["epoch_seconds"] for h in res.history)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 datasets, 3 epochs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=14)
    ap.add_argument("--epochs", type=int, default=20, help="max epochs for the MAE table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    datasets = available(SHIPPED[:2] if args.quick else SHIPPED)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    timing_epochs = 2 if args.quick else 3

    print(
        f"\n1. Median seconds per epoch (batch 32, seq_len {args.seq_len}, "
        f"{args.threads} threads, incl. validation)"
    )
    header = f"{'model':<10} {'device':<6}" + "".join(f"{d:>15}" for d in datasets)
    print(header)
    for device in devices:
        for model in list_models():
            cells = [epoch_seconds(model, d, args.seq_len, timing_epochs, device) for d in datasets]
            print(f"{model:<10} {device:<6}" + "".join(f"{c:>15.2f}" for c in cells))

    epochs = 3 if args.quick else args.epochs
    print(
        f"\n2. Test MAE vs naive MAE (regularizer none, seq_len {args.seq_len}, "
        f"<= {epochs} epochs, patience 3, seed 0; ratio < 1 beats persistence)"
    )
    print(
        f"{'dataset':<14} {'model':<9} {'test MAE':>12} {'naive MAE':>12} {'ratio':>7} "
        f"{'epochs':>6} {'seconds':>8}"
    )
    for d in datasets:
        for model in ("lstm", "patchtst"):
            spec = TrialSpec(
                dataset=d,
                model=ComponentSpec(model),
                regularizer=ComponentSpec("none"),
                seq_len=args.seq_len,
                train=TrainSpec(epochs=epochs, patience=3),
            )
            t0 = time.perf_counter()
            r = run_trial(spec)
            print(
                f"{d:<14} {model:<9} {r.test_mae:>12.5g} {r.naive_mae:>12.5g} "
                f"{r.test_mae / r.naive_mae:>7.3f} {r.epochs_run:>6} "
                f"{time.perf_counter() - t0:>8.1f}"
            )


if __name__ == "__main__":
    main()

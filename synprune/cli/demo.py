"""``synprune demo``: a small LSTM on the synthetic series, dense vs synaptic pruning.

Runs two trials through the one training loop and prints per-epoch losses and sparsity side by
side, then the test MAE of both next to the naive persistence forecast.
"""

from __future__ import annotations

import argparse

from synprune.cli.train import summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=8, help="epochs per arm (default 8)")
    p.add_argument("--seq-len", type=int, default=24, help="input window (default 24)")
    p.add_argument("--final-sparsity", type=float, default=0.8, help="pruning target (default 0.8)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
    from synprune.experiment.trial import run_trial

    train = TrainSpec(epochs=args.epochs, patience=0, batch_size=32)
    arms = {
        "dense": ComponentSpec("none"),
        "synaptic": ComponentSpec(
            "synaptic",
            {"final_sparsity": args.final_sparsity, "start_frac": 0.1, "end_frac": 0.7},
        ),
    }
    histories: dict[str, list[dict[str, float]]] = {}
    results = {}
    for arm, reg in arms.items():
        spec = TrialSpec(
            dataset="synthetic",
            model=ComponentSpec("lstm", {"hidden_size": 64}),
            regularizer=reg,
            seq_len=args.seq_len,
            seed=args.seed,
            train=train,
        )
        print(f"training {arm} ...", flush=True)
        results[arm] = run_trial(spec)
        histories[arm] = results[arm].history
    print()
    print(
        f"{'epoch':>5} | {'dense train':>11} {'dense val':>10} | "
        f"{'pruned train':>12} {'pruned val':>10} {'sparsity':>8}"
    )
    for d, s in zip(histories["dense"], histories["synaptic"], strict=False):
        print(
            f"{int(d['epoch']):>5} | {d['train_loss']:>11.5f} {d['val_loss']:>10.5f} | "
            f"{s['train_loss']:>12.5f} {s['val_loss']:>10.5f} {s.get('sparsity', 0.0):>8.3f}"
        )
    print()
    for arm in arms:
        print(summary(results[arm]))
    return 0

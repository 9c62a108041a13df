"""``synprune demo``: a small LSTM on the synthetic series, dense vs synaptic pruning.

Runs two trials through the one training loop and prints per-epoch losses and sparsity side by
side, then the test MAE of both next to the naive persistence forecast. Every argument is
checked (both specs built, the series windowed) before anything trains.
"""

from __future__ import annotations

import argparse
from typing import Any

from synprune.cli.train import summary

#: spec field -> the demo flag that sets it (errors name the flag)
_FLAGS = {
    "train.epochs": "--epochs",
    "seq_len": "--seq-len",
    "seed": "--seed",
    "regularizer.final_sparsity": "--final-sparsity",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=8, help="epochs per arm (default 8)")
    p.add_argument("--seq-len", type=int, default=24, help="input window (default 24)")
    p.add_argument("--final-sparsity", type=float, default=0.8, help="pruning target (default 0.8)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order")


def demo_specs(args: argparse.Namespace) -> dict[str, Any]:
    """The two arms' validated specs; a bad argument is one ``ConfigError`` naming its flag."""
    from synprune.errors import ConfigError, FieldError
    from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec

    try:
        train = TrainSpec(epochs=args.epochs, patience=0, batch_size=32)
        arms = {
            "dense": ComponentSpec("none"),
            "synaptic": ComponentSpec(
                "synaptic",
                {"final_sparsity": args.final_sparsity, "start_frac": 0.1, "end_frac": 0.7},
            ),
        }
        return {
            arm: TrialSpec(
                dataset="synthetic",
                model=ComponentSpec("lstm", {"hidden_size": 64}),
                regularizer=reg,
                seq_len=args.seq_len,
                seed=args.seed,
                train=train,
            )
            for arm, reg in arms.items()
        }
    except FieldError as exc:
        flag = _FLAGS.get(exc.path)
        if flag is None:
            raise
        raise ConfigError(f"{flag} {exc.value!r} is invalid; allowed: {exc.allowed}") from None


def run(args: argparse.Namespace) -> int:
    from synprune.datasets import prepare_windows
    from synprune.experiment.trial import load_series, run_trial

    specs = demo_specs(args)
    data = load_series(specs["dense"])
    prepare_windows(data, args.seq_len, 1)  # a --seq-len too long for the series: DataError
    results = {}
    for arm, spec in specs.items():
        print(f"training {arm} ...", flush=True)
        results[arm] = run_trial(spec, data)
    print()
    print(
        f"{'epoch':>5} | {'dense train':>11} {'dense val':>10} | "
        f"{'pruned train':>12} {'pruned val':>10} {'sparsity':>8}"
    )
    for d, s in zip(results["dense"].history, results["synaptic"].history, strict=False):
        print(
            f"{int(d['epoch']):>5} | {d['train_loss']:>11.5f} {d['val_loss']:>10.5f} | "
            f"{s['train_loss']:>12.5f} {s['val_loss']:>10.5f} {s.get('sparsity', 0.0):>8.3f}"
        )
    print()
    for arm in specs:
        print(summary(results[arm]))
    return 0

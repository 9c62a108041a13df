"""``synprune train``: one trial on this machine (no Ray, no MLflow)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from synprune.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="rnn | lstm | gru | patchtst")
    p.add_argument("--dataset", required=True, help="a registered dataset or csv:PATH")
    p.add_argument("--regularizer", required=True, help="none | dropout | mc_dropout | synaptic")
    p.add_argument("--seq-len", type=int, required=True, help="input window length")
    p.add_argument("--horizon", type=int, default=1, help="steps forecast (default 1)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 20)")
    p.add_argument("--target", default=None, help="target column (csv:PATH datasets)")
    p.add_argument("--date-column", default=None, help="date column (csv:PATH datasets)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field: train.lr=0.01, model.hidden_size=32, "
        "regularizer.final_sparsity=0.9, regularizer.p=0.3 (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def spec_from_args(args: argparse.Namespace) -> Any:
    from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec

    train = TrainSpec() if args.epochs is None else TrainSpec(epochs=args.epochs)
    spec = TrialSpec(
        dataset=args.dataset,
        model=ComponentSpec(args.model),
        regularizer=ComponentSpec(args.regularizer),
        seq_len=args.seq_len,
        horizon=args.horizon,
        seed=args.seed,
        train=train,
        target=args.target,
        date_column=args.date_column,
    )
    return spec.with_overrides(args.overrides) if args.overrides else spec


def run(args: argparse.Namespace) -> int:
    from synprune.experiment.trial import load_series, run_trial

    spec = spec_from_args(args)  # validated before any data is read
    if spec.workers != 1:
        raise ConfigError("train runs one process; use `synprune sweep` for workers > 1")
    data = load_series(spec)  # data errors surface before any progress output
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(
            total=spec.train.epochs,
            desc=f"{spec.model.name}/{spec.regularizer.name}",
            unit="epoch",
            file=sys.stderr,
            leave=False,
        )

    def on_epoch(epoch: int, m: dict[str, float]) -> None:
        if bar is not None:
            post = {"train": f"{m['train_loss']:.4f}", "val": f"{m['val_loss']:.4f}"}
            if "sparsity" in m:
                post["sparsity"] = f"{m['sparsity']:.3f}"
            bar.set_postfix(post)
            bar.update(1)

    try:
        result = run_trial(spec, data, on_epoch=on_epoch)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(_json_safe(result.to_json()), sort_keys=True))
    else:
        print(summary(result))
    return 0


def summary(result: Any) -> str:
    s = result.spec
    ratio = result.test_mae / result.naive_mae if result.naive_mae else math.nan
    verdict = "beats" if ratio < 1 else "does NOT beat"
    lines = [
        f"trial {result.spec_id}: {s['model']['name']} + {s['regularizer']['name']} on "
        f"{s['dataset']} (seq_len={s['seq_len']}, horizon={s['horizon']}, seed={s['seed']})",
        f"  epochs run {result.epochs_run} (best {result.best_epoch}), "
        f"{result.train_seconds:.1f} s, best val loss {result.val_loss:.5f} (scaled MSE)",
        f"  test MAE   {result.test_mae:.6g}    naive MAE  {result.naive_mae:.6g}    "
        f"ratio {ratio:.3f} ({verdict} persistence)",
        f"  test RMSE  {result.test_rmse:.6g}    naive RMSE {result.naive_rmse:.6g}",
        f"  final sparsity {result.final_sparsity:.3f}",
    ]
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj

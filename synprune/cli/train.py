"""``synprune train``: one trial on this machine (no Ray, no MLflow).

Composite regularizers work as everywhere (``--regularizer synaptic+dropout``); their parts'
fields are set with ``--set regularizer.<part>.<field>=VALUE``, e.g.
``--set regularizer.synaptic.final_sparsity=0.5 --set regularizer.dropout.p=0.3``.
Defaults are the constructors' and ``TrainSpec``'s (one set, see configs/paper.toml).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from synprune.errors import ConfigError

if TYPE_CHECKING:
    from synprune.experiment.results import TrialResult


#: the built-in names, for --help without importing torch (a test keeps them equal to the
#: registries; plugins add more)
BUILTIN_MODELS = ("rnn", "lstm", "gru", "patchtst")
BUILTIN_REGULARIZERS = ("none", "dropout", "mc_dropout", "synaptic", "weight_decay", "l1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, help=f"a registered model: {' | '.join(BUILTIN_MODELS)}"
    )
    p.add_argument("--dataset", required=True, help="a registered dataset or csv:PATH")
    p.add_argument(
        "--regularizer",
        required=True,
        help=f"a registered regularizer: {' | '.join(BUILTIN_REGULARIZERS)}, or parts joined by "
        "'+' (synaptic+dropout)",
    )
    p.add_argument("--seq-len", type=int, required=True, help="input window length")
    p.add_argument("--horizon", type=int, default=1, help="steps forecast (default 1)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default 0)")
    p.add_argument(
        "--protocol",
        default=None,
        help="leak_free (default) | paper (the paper code's: scaler on the whole series, the last "
        "20%% both early-stops and scores, 1 layer, no RevIN) | m4 (default for M4 datasets)",
    )
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 20)")
    p.add_argument("--target", default=None, help="target column (csv:PATH datasets)")
    p.add_argument("--date-column", default=None, help="date column (csv:PATH datasets)")
    p.add_argument(
        "--missing-value",
        type=float,
        default=None,
        help="cells equal to this code are missing, e.g. -200 (csv:PATH datasets, air_quality)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field: train.lr=0.01, model.hidden_size=32, "
        "regularizer.final_sparsity=0.9, regularizer.p=0.3; a composite's part: "
        "regularizer.synaptic.final_sparsity=0.5 (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def spec_from_args(args: argparse.Namespace) -> Any:
    """The validated spec; a bad value is a ``FieldError`` naming the flag's spec path
    (``regularizer.synaptic.final_sparsity=1.2 is invalid; ...``)."""
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
        missing_value=args.missing_value,
        protocol=args.protocol,
    )
    seen: dict[str, str] = {}
    for item in args.overrides:
        key = item.partition("=")[0].strip()
        if key in seen:
            raise ConfigError(
                f"--set {key} is given twice ({seen[key]!r} and {item!r}); give each key once"
            )
        seen[key] = item
    return spec.with_overrides(args.overrides) if args.overrides else spec


def run(args: argparse.Namespace) -> int:
    from synprune.experiment.trial import load_series, run_trial

    spec = spec_from_args(args)  # validated before any data is read
    if spec.workers != 1:
        raise ConfigError("train runs one process; use `synprune sweep` for workers > 1")
    if spec.train.device == "cuda":
        from synprune.cli.common import check_cuda

        check_cuda("train.device")
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
    tensors = dict(getattr(result, "tensor_sparsity", None) or {})
    warning = collapse_warning(tensors)
    if warning:
        print(warning, file=sys.stderr)
    if args.json:
        out = result.to_json()
        out["tensor_sparsity"] = tensors
        out["arm"] = spec.arm
        out["protocol"] = spec.protocol
        out["stopping"] = spec.train.stopping  # epochs_run, best_epoch: from the result
        print(json.dumps(_json_safe(out), sort_keys=True))
    else:
        print(summary(result))
    return 0


def collapse_warning(tensor_sparsity: dict[str, float]) -> str:
    """One stderr line naming the tensors pruned (almost) away -- 99 % or more, the
    regularizers' ``collapsed_tensors`` -- or ``""`` when there is none."""
    from synprune.regularizers import collapsed_tensors

    bad = collapsed_tensors(tensor_sparsity)
    if not bad:
        return ""
    items = ", ".join(f"{n} ({tensor_sparsity[n]:.1%})" for n in bad)
    return (
        f"warning: {len(bad)} tensor(s) pruned beyond 99%: {items}; such a layer passes "
        "(almost) nothing -- lower final_sparsity or set max_tensor_sparsity "
        "(--set regularizer.max_tensor_sparsity=0.95)"
    )


def summary(result: TrialResult) -> str:
    s = result.spec
    ratio = result.test_mae / result.naive_mae if result.naive_mae else math.nan
    verdict = "beats" if ratio < 1 else "does NOT beat"
    lines = [
        f"trial {result.spec_id}: {s.model.name} + {s.regularizer.name} on "
        f"{s.dataset} (seq_len={s.seq_len}, horizon={s.horizon}, seed={s.seed})",
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

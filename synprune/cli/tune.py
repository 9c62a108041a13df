"""``synprune tune --config FILE [--trials N]``: tune pruning schedule / dropout p with Optuna."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="sweep file with a [tuning] section")
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help="cumulative trial budget per (model, dataset, regularizer) study "
        "(default [tuning].trials); a rerun tops a study up to N",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI or sqlite:///./synprune-runs/mlflow.db)",
    )
    p.add_argument("--address", default=None, help="Ray cluster address (default $RAY_ADDRESS)")
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray (default: all); ignored with --address",
    )


def run(args: argparse.Namespace) -> int:
    from synprune.cli.common import check_driver
    from synprune.config.loader import load_config
    from synprune.errors import ConfigError
    from synprune.tracking.uri import redact, resolve_tracking_uri

    if args.trials is not None and args.trials < 1:
        raise ConfigError(f"--trials {args.trials} is invalid; allowed: an integer >= 1")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise ConfigError(f"--num-cpus {args.num_cpus} is invalid; allowed: an integer >= 1")
    cfg = load_config(args.config)
    check_driver(cfg, args.address, args.num_cpus)
    uri = resolve_tracking_uri(args.tracking_uri)
    from synprune.runtime.tune import run_tuning

    doc = run_tuning(cfg, uri, trials=args.trials, address=args.address, num_cpus=args.num_cpus)
    path = doc["_path"]
    if doc["_interrupted"]:
        print(f"\ntuning interrupted; the best parameters so far are in {path}")
        print("  resume: run the same command again (each study continues to its budget)")
        return 130
    print(f"\nbest parameters written to {path}")
    if cfg.tuned_path is None:
        print(f'  use them in a sweep: add  tuned = "{path}"  to {cfg.path}')
    print(f"  tune runs in MLflow: experiment {cfg.experiment}-tune at {redact(uri)}")
    return 0

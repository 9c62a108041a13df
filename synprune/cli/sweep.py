"""``synprune sweep --config FILE [--resume] [--tracking-uri URI] [--address RAY_ADDRESS]``."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="sweep file, e.g. configs/smoke.toml")
    p.add_argument(
        "--resume",
        action="store_true",
        help="also continue the interrupted Ray experiment (finished trials are always skipped)",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI or sqlite:///./synprune-runs/mlflow.db)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (default $RAY_ADDRESS, else a local Ray)",
    )
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray (default: all); ignored with --address",
    )


def run(args: argparse.Namespace) -> int:
    from synprune.config.loader import load_config
    from synprune.tracking.uri import resolve_tracking_uri

    cfg = load_config(args.config)  # every error here is a ConfigError: nothing has run
    uri = resolve_tracking_uri(args.tracking_uri)
    from synprune.runtime.sweep import run_sweep

    s = run_sweep(cfg, uri, resume=args.resume, address=args.address, num_cpus=args.num_cpus)
    mins, secs = divmod(int(s.seconds), 60)
    print(
        f"\nsweep {cfg.experiment}: {s.finished} finished, {s.failed} failed, {s.skipped} "
        f"skipped (already finished) of {s.total} trials in {mins}m{secs:02d}s"
    )
    print(f"  store:  {uri}  (experiment {cfg.experiment!r})")
    print(f"  ui:     synprune ui --tracking-uri {uri}")
    print(
        f"  stats:  synprune stats --experiment {cfg.experiment} --tracking-uri {uri} --out report/"
    )
    if s.failed:
        print(
            f"  {s.failed} failed trial(s) keep their error in MLflow (tag `error`, "
            "error.txt); the next `synprune sweep` runs them again"
        )
    return 1 if (s.failed or s.spooled) else 0

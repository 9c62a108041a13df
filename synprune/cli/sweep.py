"""``synprune sweep --config FILE [--resume] [--tracking-uri URI] [--address RAY_ADDRESS]``."""

from __future__ import annotations

import argparse
import shlex
import sys

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process stopped by Ctrl-C


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="sweep file, e.g. configs/smoke.toml")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted sweep (every run skips the trials that already finished)",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI or sqlite:///./synprune-runs/mlflow.db)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Ray cluster address (default $RAY_ADDRESS, else a local Ray on 127.0.0.1)",
    )
    p.add_argument(
        "--allow-grid-change",
        action="store_true",
        help="add this config's trials to an experiment that holds another grid (refused "
        "by default: stats would mix two designs)",
    )
    p.add_argument(
        "--num-cpus",
        type=int,
        default=None,
        help="CPUs of the local Ray (default: all); ignored with --address",
    )


def resume_command(args: argparse.Namespace, uri: str) -> str:
    """The exact command that finishes this sweep."""
    argv = ["synprune", "sweep", "--config", str(args.config), "--tracking-uri", uri]
    if args.address:
        argv += ["--address", args.address]
    if args.num_cpus is not None:
        argv += ["--num-cpus", str(args.num_cpus)]
    return shlex.join([*argv, "--resume"])


def run(args: argparse.Namespace) -> int:
    from synprune.cli.common import check_driver
    from synprune.config.loader import load_config
    from synprune.errors import ConfigError
    from synprune.tracking.uri import redact, resolve_tracking_uri

    if args.num_cpus is not None and args.num_cpus < 1:
        raise ConfigError(f"--num-cpus {args.num_cpus} is invalid; allowed: an integer >= 1")
    cfg = load_config(args.config)  # every error here is a ConfigError: nothing has run
    check_driver(cfg, args.address, args.num_cpus)
    uri = resolve_tracking_uri(args.tracking_uri)
    shown = redact(uri)
    from synprune.runtime.sweep import run_sweep

    s = run_sweep(
        cfg,
        uri,
        resume=args.resume,
        address=args.address,
        num_cpus=args.num_cpus,
        allow_grid_change=args.allow_grid_change,
    )
    mins, secs = divmod(int(s.seconds), 60)
    if s.interrupted:
        print(
            f"\nsweep {cfg.experiment} interrupted: {s.finished} finished, {s.failed} failed, "
            f"{s.left} left to run, {s.skipped} finished before (of {s.total} trials, "
            f"{mins}m{secs:02d}s)"
        )
        print(f"  resume: {resume_command(args, shown)}")
        sys.stdout.flush()
        return INTERRUPTED
    print(
        f"\nsweep {cfg.experiment}: {s.finished} finished, {s.failed} failed, {s.skipped} "
        f"skipped (already finished) of {s.total} trials in {mins}m{secs:02d}s"
    )
    print(f"  store:  {shown}  (experiment {cfg.experiment!r})")
    print(f"  ui:     synprune ui --tracking-uri {shown}")
    print(
        f"  stats:  synprune stats --experiment {cfg.experiment} --tracking-uri {shown} "
        "--out report/"
    )
    if s.failed:
        print(
            f"  {s.failed} failed trial(s) keep their error in MLflow (tag `error`, "
            "error.txt); the next `synprune sweep` runs them again"
        )
    return 1 if (s.failed or s.spooled) else 0

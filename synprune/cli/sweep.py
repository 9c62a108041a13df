"""``synprune sweep --config FILE [--resume] [--tracking-uri URI] [--address RAY_ADDRESS]``.

Exit codes: 0 every trial recorded and finished; 1 failed trials, runs still spooled, or
trials that ended but could not be recorded at all (:data:`UNRECORDED`: a full disk or an
unwritable spool/artifact folder stopped the sweep; the sweep run is not FINISHED and the
summary gives the count and the ``--resume`` command); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process stopped by Ctrl-C
UNRECORDED = 1  # trials ended but could not be written nor spooled: the sweep stopped


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
    lines, rc = summary_lines(s, cfg.experiment, shown, resume_command(args, shown))
    print("\n" + "\n".join(lines))
    sys.stdout.flush()
    return rc


def summary_lines(s: Any, experiment: str, shown: str, resume: str) -> tuple[list[str], int]:
    """The console summary of sweep summary ``s`` (``runtime.sweep.SweepSummary``) and the exit
    code; ``shown``: the store URI without password, ``resume``: :func:`resume_command`."""
    mins, secs = divmod(int(s.seconds), 60)
    took = f"{mins}m{secs:02d}s"
    if s.unrecorded:  # a write failed past the spool: the runtime stopped the sweep
        return [
            f"sweep {experiment} stopped: {s.unrecorded} trial(s) ended but could not be "
            f"recorded ({s.error or 'unknown error'}); {s.finished} finished, {s.failed} "
            f"failed, {s.left} left to run, {s.skipped} finished before (of {s.total} trials, "
            f"{took})",
            "  the sweep run is not marked FINISHED; free the space / fix the folder, then",
            f"  resume: {resume}",
        ], UNRECORDED
    if s.interrupted:
        return [
            f"sweep {experiment} interrupted: {s.finished} finished, {s.failed} failed, "
            f"{s.left} left to run, {s.skipped} finished before (of {s.total} trials, {took})",
            f"  resume: {resume}",
        ], INTERRUPTED
    lines = [
        f"sweep {experiment}: {s.finished} finished, {s.failed} failed, {s.skipped} "
        f"skipped (already finished) of {s.total} trials in {took}",
        f"  store:  {shown}  (experiment {experiment!r})",
        f"  ui:     synprune ui --tracking-uri {shown}",
        f"  stats:  synprune stats --experiment {experiment} --tracking-uri {shown} --out report/",
    ]
    if s.failed:
        lines.append(
            f"  {s.failed} failed trial(s) keep their error in MLflow (tag `error`, "
            "error.txt); the next `synprune sweep` runs them again"
        )
    return lines, 1 if (s.failed or s.spooled) else 0

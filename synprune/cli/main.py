"""Console script ``synprune`` (also ``python -m synprune``).

Each verb lives in ``synprune.cli.<verb>`` and is imported lazily.
Bad input (``synprune.errors.InputError``) is reported as one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from synprune import __version__
from synprune.errors import InputError

# verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("synprune.cli.train", "run one trial (no Ray, no MLflow)"),
    "sweep": (
        "synprune.cli.sweep",
        "run a grid of trials on Ray Tune, tracked in MLflow",
    ),
    "tune": (
        "synprune.cli.tune",
        "tune schedule / dropout hyperparameters with Optuna",
    ),
    "stats": (
        "synprune.cli.stats",
        "rank regularizers from stored runs (Friedman, Nemenyi)",
    ),
    "ui": ("synprune.cli.ui", "open the MLflow UI on the run store"),
    "export": ("synprune.cli.export", "write one row per trial to CSV or Parquet"),
    "datasets": (
        "synprune.cli.datasets",
        "list, fetch or check the shipped datasets",
    ),
    "reference": (
        "synprune.cli.reference",
        "score naive, snaive, naive2 and linear on M4 data (sMAPE, MASE, OWA)",
    ),
    "demo": (
        "synprune.cli.demo",
        "train a small LSTM with and without synaptic pruning",
    ),
}


def _available() -> dict[str, tuple[str, str]]:
    """Verbs whose module exists (lets the CLI grow one verb at a time)."""
    out = {}
    for verb, (mod, help_) in COMMANDS.items():
        if importlib.util.find_spec(mod) is not None:
            out[verb] = (mod, help_)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synprune",
        description="Synaptic pruning as a regularizer, and a leak-free benchmark for it.",
    )
    parser.add_argument("--version", action="version", version=f"synprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb, (mod, help_) in _available().items():
        p = sub.add_parser(verb, help=help_, description=help_)
        importlib.import_module(mod).add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except InputError as exc:
        print(f"synprune {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"synprune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

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


#: one placeholder per kind of value, the same in every verb's --help
METAVARS = {
    "--config": "FILE",
    "--tracking-uri": "URI",
    "--address": "RAY_ADDRESS",
    "--num-cpus": "N",
    "--trials": "N",
    "--experiment": "NAME",
    "--model": "NAME",
    "--dataset": "NAME",
    "--regularizer": "NAME",
    "--protocol": "NAME",
    "--seq-len": "N",
    "--horizon": "N",
    "--seed": "N",
    "--epochs": "N",
    "--target": "COLUMN",
    "--date-column": "COLUMN",
    "--missing-value": "VALUE",
    "--host": "HOST",
    "--port": "PORT",
    "--data-dir": "DIR",
    "--base-url": "URL",
    "--metric": "METRIC",
    "--blocks": "FACTORS",
    "--alpha": "P",
    "--final-sparsity": "FRACTION",
}


class HelpFormatter(argparse.HelpFormatter):
    """Every option that takes a value says its default: ``(default: X)`` unless its help
    already names one; ``(default: none)`` when it has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or action.nargs == 0
            or action.required
            or action.default is argparse.SUPPRESS
            or "default" in text.lower()
            or getattr(action, "_in_required_group", False)
        ):
            return text
        if action.default is None or action.default == []:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


def _tidy(p: argparse.ArgumentParser) -> None:
    """Uniform placeholders (``METAVARS``); options of a required either-or group need no
    default."""
    for group in p._mutually_exclusive_groups:
        if group.required:
            for a in group._group_actions:
                a._in_required_group = True  # type: ignore[attr-defined]
    p.formatter_class = HelpFormatter
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):  # datasets list|fetch|check
            for child in a.choices.values():
                _tidy(child)
        if a.metavar is None and a.nargs != 0 and not a.choices:
            name = next((o for o in a.option_strings if o in METAVARS), None)
            if name is not None:
                a.metavar = METAVARS[name]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synprune",
        description="Synaptic pruning as a regularizer, and a leak-free benchmark for it.",
    )
    parser.add_argument("--version", action="version", version=f"synprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb, (mod, help_) in _available().items():
        p = sub.add_parser(verb, help=help_, description=help_, formatter_class=HelpFormatter)
        importlib.import_module(mod).add_arguments(p)
        _tidy(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except InputError as exc:
        from synprune.tracking.uri import redact_text  # no password reaches the console

        print(f"synprune {args.command}: error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"synprune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

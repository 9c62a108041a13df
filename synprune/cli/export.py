"""``synprune export (--experiment NAME | --sweep RUN_ID) [--tracking-uri URI] --out FILE
[--predictions FILE] [--force]``: one row per trial (spec fields, tags, final metrics; failed
trials with their error) as CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow); with
``--predictions``, also the finished trials' per-window test forecasts, one row per (trial,
window, step): the trial keys + window, step, target, prediction, naive, snaive, linear
(``.csv``, ``.csv.gz`` or ``.parquet``). Columns: :mod:`synprune.tracking.export`. An existing
FILE is kept unless ``--force``."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

from synprune.cli.common import check_writable, store_errors, write_error
from synprune.errors import ConfigError

FORMATS = (".csv", ".parquet")
PREDICTION_FORMATS = (".csv", ".csv.gz", ".parquet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--experiment", help="every trial of this MLflow experiment (by name)")
    which.add_argument("--sweep", metavar="RUN_ID", help="the trials of one sweep run")
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI or sqlite:///./synprune-runs/mlflow.db)",
    )
    p.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="FILE.csv or FILE.parquet"
    )
    p.add_argument(
        "--predictions",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the per-window test forecasts (FILE.csv, FILE.csv.gz or FILE.parquet)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def check_out(
    out: Path, force: bool, flag: str = "--out", formats: tuple[str, ...] = FORMATS
) -> str:
    """The format of ``out`` ("csv" | "csv.gz" | "parquet"), or an error before anything is
    read."""
    name = out.name.lower()
    suffix = next((f for f in sorted(formats, key=len, reverse=True) if name.endswith(f)), "")
    if not suffix:
        raise ConfigError(
            f"{flag} {out}: the file name must end in {', '.join(formats[:-1])} or {formats[-1]}"
        )
    if out.is_dir():
        raise ConfigError(f"{flag} {out} is a folder; give a file name")
    if out.exists() and not force:
        raise ConfigError(f"{flag} {out} exists; add --force to overwrite it")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{flag} {out}: writing Parquet needs pyarrow, which is not installed "
                "(pip install pyarrow), or write a .csv file"
            ) from None
    return suffix[1:]


def _write(df: Any, out: Path, fmt: str, flag: str) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, compression="gzip" if fmt == "csv.gz" else None)
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_error(flag, out, exc) from None


def run(args: argparse.Namespace) -> int:
    from synprune.tracking.export import export_frame, export_predictions
    from synprune.tracking.uri import Store, check_readable_store

    out: Path = args.out
    fmt = check_out(out, args.force)
    preds: Path | None = getattr(args, "predictions", None)
    pfmt = check_out(preds, args.force, "--predictions", PREDICTION_FORMATS) if preds else ""
    if preds is not None and preds.resolve() == out.resolve():
        raise ConfigError(f"--predictions {preds} is the --out file; give another name")
    check_writable(out, "--out")
    if preds is not None:
        check_writable(preds, "--predictions")
    uri = Store.from_uri(args.tracking_uri).uri
    check_readable_store(uri)
    with store_errors(uri):
        df = export_frame(uri, experiment=args.experiment, sweep=args.sweep)
    _write(df, out, fmt, "--out")
    failed = int((df["status"] != "finished").sum())
    print(
        f"wrote {out}: {len(df)} trials ({failed} not finished), {len(df.columns)} columns",
        flush=True,
    )
    if preds is not None:
        with store_errors(uri):
            pf = export_predictions(uri, experiment=args.experiment, sweep=args.sweep)
        _write(pf, preds, pfmt, "--predictions")
        missing = pf.attrs.get("missing", [])
        lacking = f"; {len(missing)} finished trial(s) without predictions" if missing else ""
        print(
            f"wrote {preds}: {len(pf)} rows from {pf['run_id'].nunique()} trials{lacking}",
            flush=True,
        )
    return 0

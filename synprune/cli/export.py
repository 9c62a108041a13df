"""``synprune export (--experiment NAME | --sweep RUN_ID) [--tracking-uri URI] --out FILE
[--force]``: one row per trial (spec fields, tags, final metrics; failed trials with their
error) as CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow). Columns:
:mod:`synprune.tracking.export`. An existing FILE is kept unless ``--force``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from synprune.errors import ConfigError

FORMATS = (".csv", ".parquet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--experiment", help="every trial of this MLflow experiment (by name)")
    which.add_argument("--sweep", metavar="RUN_ID", help="the trials of one sweep run")
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store (default $MLFLOW_TRACKING_URI or sqlite:///./synprune-runs/mlflow.db)",
    )
    p.add_argument("--out", required=True, type=Path, help="FILE.csv or FILE.parquet")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")


def check_out(out: Path, force: bool) -> str:
    """The format of ``out`` ("csv" | "parquet"), or an error before anything is read."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out {out}: the file name must end in {' or '.join(FORMATS)}")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name")
    if out.exists() and not force:
        raise ConfigError(f"--out {out} exists; add --force to overwrite it")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"--out {out}: writing Parquet needs pyarrow, which is not installed "
                "(pip install pyarrow), or write a .csv file"
            ) from None
    return suffix[1:]


def run(args: argparse.Namespace) -> int:
    from synprune.tracking.export import export_frame
    from synprune.tracking.uri import is_sqlite, resolve_tracking_uri, sqlite_path

    out: Path = args.out
    fmt = check_out(out, args.force)
    uri = resolve_tracking_uri(args.tracking_uri)
    if is_sqlite(uri) and not sqlite_path(uri).exists():
        raise ConfigError(f"--tracking-uri {uri}: no store at {sqlite_path(uri)}")
    df = export_frame(uri, experiment=args.experiment, sweep=args.sweep)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if fmt == "csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    failed = int((df["status"] != "finished").sum())
    print(
        f"wrote {out}: {len(df)} trials ({failed} not finished), {len(df.columns)} columns",
        flush=True,
    )
    return 0

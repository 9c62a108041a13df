"""`synprune stats`: rank regularizers from stored runs (Friedman, Nemenyi, Wilcoxon-Holm).

    synprune stats (--experiment NAME [--tracking-uri URI] | --from-csv FILE)
                   [--metric test_mae] [--blocks dataset,model,seq_len,horizon]
                   [--aggregate mean|median] [--alpha 0.05] [--strict]
                   [--select-on val_loss] [--force] --out DIR

Ranks the arms (the ``arm`` tag/column; the regularizer where absent), or with ``--select-on
val_loss`` the regularizer families, each block contributing its arm with the lowest mean
validation loss. Writes ranking.csv, friedman.csv, nemenyi.csv, wilcoxon_holm.csv,
cd_diagram.png and report.md (and more, see synprune/stats/report.py) into DIR, never over a
file it did not write (``--force`` overrides). With --experiment the same files are logged as
artifacts of a run named ``stats`` (tag ``synprune.kind=stats``, no spec_id tag, so it is never
read back as a trial), once per identical input.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from synprune.errors import ConfigError, DataError

DEFAULT_URI = "sqlite:///./synprune-runs/mlflow.db"
LAST_TIMINGS: dict[str, float] = {}  # read / compute / write / log seconds of the last run()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the verb's options."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--experiment", metavar="NAME", help="MLflow experiment of a sweep")
    src.add_argument("--from-csv", metavar="FILE", type=Path, help="long-format rows (CSV)")
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help=f"MLflow store (default: $MLFLOW_TRACKING_URI or {DEFAULT_URI})",
    )
    parser.add_argument("--metric", default="test_mae", help="metric to rank (lower is better)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--blocks",
        default="dataset,model,seq_len,horizon",
        help="comma-separated block factors (default: dataset,model,seq_len,horizon)",
    )
    parser.add_argument(
        "--aggregate", choices=("mean", "median"), default="mean", help="seed aggregate per cell"
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
    parser.add_argument("--strict", action="store_true", help="incomplete blocks are an error")
    parser.add_argument(
        "--select-on",
        metavar="METRIC",
        help="rank regularizer families; per block and family select the arm with the lowest "
        "mean METRIC over seeds (a validation metric: val_loss; never a test metric)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite files in --out that stats did not write"
    )
    parser.add_argument(
        "--no-log", action="store_true", help="with --experiment: do not log a 'stats' run"
    )
    parser.add_argument(
        "--api-read",
        action="store_true",
        help="with --experiment: read through MlflowClient.search_runs, not the SQL fast path",
    )


def _blocks(text: str, columns: list[str]) -> tuple[str, ...]:
    blocks = tuple(b.strip() for b in text.split(",") if b.strip())
    if not blocks:
        raise ConfigError("--blocks is empty: name at least one factor, e.g. dataset")
    for bad in ("regularizer", "arm", "seed"):
        if bad in blocks:
            raise ConfigError(
                f"--blocks may not contain '{bad}' (treatments and seeds are never blocks)"
            )
    unknown = [b for b in blocks if b not in columns]
    if unknown:
        raise ConfigError(
            f"--blocks: unknown factor(s) {', '.join(unknown)} "
            f"(available: dataset, model, seq_len, horizon)"
        )
    return blocks


def _commands(args: argparse.Namespace, uri: str | None, blocks: tuple[str, ...]) -> list[str]:
    opts = ["--metric", args.metric, "--blocks", ",".join(blocks), "--aggregate", args.aggregate]
    opts += ["--alpha", repr(args.alpha)] + (["--strict"] if args.strict else [])
    opts += ["--select-on", args.select_on] if args.select_on else []
    out = str(args.out)
    if args.experiment is not None:
        live = ["synprune", "stats", "--experiment", args.experiment, "--tracking-uri", str(uri)]
        frozen = [*opts, "--out", f"{out.rstrip('/')}-rerun"]
        return [
            "# from the MLflow experiment (its current runs):",
            shlex.join([*live, *opts, "--out", out]),
            "# from the exact rows analysed here (frozen in trials.csv):",
            shlex.join(["synprune", "stats", "--from-csv", str(Path(out) / "trials.csv"), *frozen]),
        ]
    return [
        shlex.join(["synprune", "stats", "--from-csv", str(args.from_csv), *opts, "--out", out])
    ]


def _versions(with_mlflow: bool) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    names = ["synprune", "scipy", "scikit-posthocs", "pandas"] + (["mlflow"] if with_mlflow else [])
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "?"
    return out


def _settings(args: argparse.Namespace, blocks: tuple[str, ...]) -> dict[str, object]:
    """The options that change the analysis (hashed with the rows: one stats run per input)."""
    return {
        "metric": args.metric,
        "blocks": ",".join(blocks),
        "aggregate": args.aggregate,
        "alpha": args.alpha,
        "strict": bool(args.strict),
        "select_on": args.select_on or "",
    }


def run(args: argparse.Namespace) -> int:
    """Read rows, compute, write the outputs (and log the stats run); 0 on success.

    Every check (options, store, rows, the output folder) runs before anything is created.
    """
    from synprune.stats import outdir
    from synprune.stats.analysis import analyze
    from synprune.stats.integrity import check_cell_configs
    from synprune.stats.io import input_digest, load_csv
    from synprune.stats.ranking import DEFAULT_BLOCKS, IncompleteBlocksError
    from synprune.stats.report import planned_files, write_outputs
    from synprune.stats.selection import check_select_on
    from synprune.stats.summary import console_line
    from synprune.tracking.reader import load_mlflow

    if not 0.0 < args.alpha < 1.0:
        raise ConfigError(f"--alpha must lie in (0, 1), got {args.alpha}")
    if args.tracking_uri and args.experiment is None:
        raise ConfigError("--tracking-uri only applies with --experiment")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    if args.select_on:
        check_select_on(args.select_on, [args.select_on])
    LAST_TIMINGS.clear()
    t0 = time.perf_counter()
    uri = exp_id = None
    if args.experiment is not None:
        uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
        loaded, exp_id = load_mlflow(args.experiment, uri, args.metric, fast=not args.api_read)
    else:
        loaded = load_csv(args.from_csv, args.metric)
    rows = loaded.rows
    blocks = _blocks(args.blocks, list(rows.columns))
    fine = [c for c in DEFAULT_BLOCKS if c in rows.columns]
    ref = "run_id" if "run_id" in rows.columns else None
    check_cell_configs(rows, [*fine, "arm"], loaded.configs, source=loaded.source, ref_column=ref)
    if args.select_on:
        check_select_on(args.select_on, list(rows.columns), loaded.source)
    t1 = time.perf_counter()
    try:
        res = analyze(
            rows,
            args.metric,
            blocks=blocks,
            aggregate=args.aggregate,
            alpha=args.alpha,
            strict=args.strict,
            select=args.select_on,
        )
    except (IncompleteBlocksError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise DataError(f"{loaded.source}: {exc}") from None
    plan = outdir.plan(args.out, planned_files(res), force=args.force)
    t2 = time.perf_counter()
    if plan.stale:
        print(
            f"removing {len(plan.stale)} file(s) of an earlier stats run: {', '.join(plan.stale)}"
        )
    paths = write_outputs(
        res,
        args.out,
        rows=rows,
        source=loaded.source,
        commands=_commands(args, uri, blocks),
        load_notes=loaded.notes,
        n_read=loaded.n_read,
        versions=_versions(args.experiment is not None),
        plan=plan,
    )
    t3 = time.perf_counter()
    LAST_TIMINGS.update(read=t1 - t0, compute=t2 - t1, write=t3 - t2)
    rc = 0
    if args.experiment is not None and not args.no_log:
        from synprune.tracking.stats_run import find_stats_run, log_stats_run

        assert uri is not None and exp_id is not None  # set by the --experiment read above

        digest = input_digest(rows, _settings(args, blocks))
        try:
            same = find_stats_run(uri, exp_id, digest)
            if same:
                print(
                    f"an identical stats run ({same}: same trial rows and options) already "
                    f"exists in experiment '{args.experiment}'; not logging another"
                )
            else:
                run_id = log_stats_run(uri, exp_id, paths, res, args, digest)
                print(f"logged MLflow run 'stats' {run_id} in experiment '{args.experiment}'")
        except Exception as exc:  # the files are written; say what failed, exit non-zero
            print(f"synprune stats: warning: could not log the stats run: {exc}", file=sys.stderr)
            rc = 1
        LAST_TIMINGS["log"] = time.perf_counter() - t3
    print(console_line(res))
    print(f"wrote {len(paths)} files to {args.out} (report: {args.out / 'report.md'})")
    return rc

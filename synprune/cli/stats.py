"""`synprune stats`: rank regularizers from stored runs (Friedman, Nemenyi, Wilcoxon-Holm).

    synprune stats (--experiment NAME [--tracking-uri URI] | --from-csv FILE)
                   [--metric test_mae] [--blocks dataset,model,seq_len,horizon]
                   [--aggregate mean|median] [--alpha 0.05] [--strict]
                   [--select-on val_loss] [--primary A,B] [--margin 0.01]
                   [--predictions FILE] [--bootstrap 2000] [--force] --out DIR

Ranks the arms (the ``arm`` tag/column; the regularizer where absent), or with ``--select-on
val_loss`` the regularizer families, each block contributing its arm with the lowest mean
validation loss. Writes ranking.csv, friedman.csv, nemenyi.csv, wilcoxon_holm.csv,
cd_diagram.png and report.md, plus effects.csv and primary.csv (the primary comparison A vs B:
``--primary``, else the ``[stats] primary`` of the config the sweep logged, else synaptic vs
dropout when both are ranked) and more (see synprune/stats/report.py) into DIR, never over a
file it did not write (``--force`` overrides). ``--metric`` takes any logged metric (test_mae,
mase, smape, ...) or ``rel_mae`` (test MAE / the ``none`` arm's, same block and seed).
Per-window predictions (for the per-dataset Diebold-Mariano tests) are read from the trials'
``predictions.csv.gz`` artifacts, or with ``--from-csv`` from ``--predictions FILE`` or a
``predictions.csv.gz`` / ``predictions.csv`` beside FILE (what ``--out`` freezes beside
trials.csv); without them the per-dataset tests are skipped with a note. With --experiment
the same files are logged as artifacts of a run named ``stats`` (tag ``synprune.kind=stats``,
no spec_id tag, so it is never read back as a trial), once per identical input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from synprune.cli.common import check_writable, store_errors, write_error
from synprune.errors import ConfigError, DataError
from synprune.tracking.uri import DEFAULT_TRACKING_URI, redact

if TYPE_CHECKING:
    import pandas as pd

    from synprune.config.stats_table import StatsOptions

DEFAULT_URI = DEFAULT_TRACKING_URI  # the one default (tracking.uri); this name kept for callers
LAST_TIMINGS: dict[str, float] = {}  # read / compute / write / log seconds of the last run()
PREDICTION_FILES = ("predictions.csv.gz", "predictions.csv")


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
    parser.add_argument(
        "--metric",
        default="test_mae",
        help="metric to rank, lower is better: a logged one (test_mae, mase, smape, ...) or "
        "rel_mae (test_mae / the 'none' arm's, same block and seed) (default: test_mae)",
    )
    parser.add_argument(
        "--primary",
        metavar="A,B",
        help="the pre-registered comparison A vs B (default: [stats] primary of the logged "
        "config, else synaptic,dropout when both are ranked)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        metavar="FRACTION",
        help="equivalence margin of the primary comparison, a fraction of the error "
        "(default: [stats] margin, else 0.01 = ±1 %%)",
    )
    parser.add_argument(
        "--predictions",
        metavar="FILE",
        type=Path,
        help="with --from-csv: per-window predictions (long CSV, .gz ok; default: "
        "predictions.csv.gz or predictions.csv beside the --from-csv file, if there)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        metavar="N",
        help="bootstrap resamples for the effect intervals (default: 2000)",
    )
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
    if getattr(args, "resolved_primary", None):
        opts += ["--primary", ",".join(args.resolved_primary)]
    opts += ["--margin", repr(args.resolved_margin)] if hasattr(args, "resolved_margin") else []
    opts += ["--bootstrap", str(args.bootstrap)] if args.bootstrap != 2000 else []
    out = str(args.out)
    if args.experiment is not None:
        live = ["synprune", "stats", "--experiment", args.experiment, "--tracking-uri"]
        live.append(redact(str(uri)))
        frozen = [*opts, "--out", f"{out.rstrip('/')}-rerun"]
        return [
            "# from the MLflow experiment (its current runs):",
            shlex.join([*live, *opts, "--out", out]),
            "# from the exact rows analysed here (frozen in trials.csv):",
            shlex.join(["synprune", "stats", "--from-csv", str(Path(out) / "trials.csv"), *frozen]),
        ]
    preds = ["--predictions", str(args.predictions)] if args.predictions else []
    return [
        shlex.join(
            ["synprune", "stats", "--from-csv", str(args.from_csv), *opts, *preds, "--out", out]
        )
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
        "primary": ",".join(getattr(args, "resolved_primary", None) or ()),
        "margin": getattr(args, "resolved_margin", 0.01),
        "bootstrap": args.bootstrap,
    }


def run(args: argparse.Namespace) -> int:
    """Read rows, compute, write the outputs (and log the stats run); 0 on success.

    Every check (options, store, rows, the output folder) runs before anything is written;
    ``--out`` is locked (created if missing: removed again if nothing is written) first.
    """
    from synprune.config.stats_table import check_margin, check_primary
    from synprune.stats import outdir
    from synprune.stats.selection import check_select_on

    if not 0.0 < args.alpha < 1.0:
        raise ConfigError(f"--alpha must lie in (0, 1), got {args.alpha}")
    if args.tracking_uri and args.experiment is None:
        raise ConfigError("--tracking-uri only applies with --experiment")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    check_writable(args.out, "--out", folder=True)
    if args.select_on:
        check_select_on(args.select_on, [args.select_on])
    primary = check_primary(args.primary.split(","), "--primary") if args.primary else None
    margin = None if args.margin is None else check_margin(args.margin, "--margin")
    if not 1 <= args.bootstrap <= 100_000:
        raise ConfigError(f"--bootstrap must be an integer in [1, 100000], got {args.bootstrap}")
    if args.predictions is not None and args.from_csv is None:
        raise ConfigError("--predictions only applies with --from-csv (stores keep their own)")
    with outdir.locked(args.out):  # a second stats run into this --out refuses at once
        return _read_compute_write(args, primary, margin)


def _read_compute_write(
    args: argparse.Namespace, primary: tuple[str, str] | None, margin: float | None
) -> int:
    """:func:`run` after its option checks, holding ``--out``'s lock."""
    from synprune.stats import outdir
    from synprune.stats.analysis import analyze
    from synprune.stats.integrity import check_cell_configs
    from synprune.stats.io import input_digest, load_csv, with_run_params
    from synprune.stats.ranking import DEFAULT_BLOCKS, IncompleteBlocksError
    from synprune.stats.relative import add_derived, missing_metric_hint, source_metric
    from synprune.stats.report import planned_files, write_outputs
    from synprune.stats.selection import check_select_on
    from synprune.stats.summary import console_line
    from synprune.tracking.reader import load_mlflow
    from synprune.tracking.uri import Store, check_readable_store

    LAST_TIMINGS.clear()
    t0 = time.perf_counter()
    uri = exp_id = None
    read_metric = source_metric(args.metric)
    try:
        if args.experiment is not None:
            uri = Store.from_uri(args.tracking_uri).uri
            check_readable_store(uri)
            with store_errors(uri):
                loaded, exp_id = load_mlflow(
                    args.experiment, uri, read_metric, fast=not args.api_read
                )
        else:
            loaded = load_csv(args.from_csv, read_metric)
    except ConfigError as exc:
        if "--metric" in str(exc):
            raise ConfigError(f"{exc}.{missing_metric_hint(args.metric)}") from None
        raise
    rows = with_run_params(add_derived(loaded.rows, args.metric), loaded.configs)
    if args.experiment is not None and (primary is None or margin is None):
        assert uri is not None and exp_id is not None
        logged = _logged_options(uri, exp_id)
        if logged is not None:
            if primary is None and logged.primary is not None:
                primary = _config_primary(logged.primary, rows, args.select_on)
            margin = logged.margin if margin is None else margin
    args.resolved_margin = 0.01 if margin is None else margin
    args.resolved_primary = _check_primary_names(primary, rows, args.select_on, loaded.source)
    blocks = _blocks(args.blocks, list(rows.columns))
    fine = [c for c in DEFAULT_BLOCKS if c in rows.columns]
    ref = "run_id" if "run_id" in rows.columns else None
    check_cell_configs(rows, [*fine, "arm"], loaded.configs, source=loaded.source, ref_column=ref)
    if args.select_on:
        check_select_on(args.select_on, list(rows.columns), loaded.source)
    predictions, pred_note = _predictions(args, uri, rows, args.resolved_primary)
    if pred_note:
        print(pred_note)
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
            primary=args.resolved_primary,
            margin=args.resolved_margin,
            predictions=predictions,
            n_boot=args.bootstrap,
        )
    except (IncompleteBlocksError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise DataError(f"{loaded.source}: {exc}") from None
    with_preds = predictions is not None and not predictions.empty
    plan = outdir.plan(args.out, planned_files(res, with_preds), force=args.force)
    t2 = time.perf_counter()
    if plan.stale:
        print(
            f"removing {len(plan.stale)} file(s) of an earlier stats run: {', '.join(plan.stale)}"
        )
    try:
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
            predictions=predictions,
        )
    except OSError as exc:
        raise write_error("--out", args.out, exc) from None
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
                print(
                    f"logged MLflow run 'stats' {run_id} in experiment '{args.experiment}' "
                    "(its files as artifacts; --no-log skips this)"
                )
        except Exception as exc:  # the files are written; say what failed, exit non-zero
            print(f"synprune stats: warning: could not log the stats run: {exc}", file=sys.stderr)
            rc = 1
        LAST_TIMINGS["log"] = time.perf_counter() - t3
    print(console_line(res))
    print(f"wrote {len(paths)} files to {args.out} (report: {args.out / 'report.md'})")
    return rc


def _logged_options(uri: str, exp_id: str) -> StatsOptions | None:
    """The ``[stats]`` table of the config the experiment's latest sweep logged (None when
    there is none, or the store cannot serve it: said on the console)."""
    from synprune.tracking.sweep_config import logged_stats_options

    try:
        found = logged_stats_options(uri, exp_id)
    except ConfigError:
        raise
    except Exception as exc:  # an old store, an artifact store out of reach: not fatal
        print(f"synprune stats: the sweep's logged config could not be read ({exc})")
        return None
    if found is None:
        return None
    opts, where = found
    if opts.primary is not None:
        print(f"primary comparison {opts.primary[0]} vs {opts.primary[1]} from [stats] in {where}")
    return opts


def _config_primary(
    pair: tuple[str, str], rows: pd.DataFrame, select_on: str | None
) -> tuple[str, str] | None:
    """The config's ``[stats] primary`` pair when it names treatments of this ranking; the
    pair names families, so ranking arms (no --select-on) has none: said, not refused (only a
    pair given with --primary is refused)."""
    col = "regularizer" if select_on or "arm" not in rows.columns else "arm"
    if set(pair) <= set(rows[col].astype(str)):
        return pair
    print(
        f"no primary comparison: [stats] primary {pair[0]} vs {pair[1]} names regularizer "
        "families, and this ranks arms (--select-on val_loss ranks families)"
    )
    return None


def _check_primary_names(
    primary: tuple[str, str] | None, rows: pd.DataFrame, select_on: str | None, source: str
) -> tuple[str, str] | None:
    """Refuse (before any work) a primary pair that names no treatment of the rows."""
    if primary is None:
        return None
    col = "regularizer" if select_on or "arm" not in rows.columns else "arm"
    names = sorted(set(rows[col].astype(str)))
    missing = [n for n in primary if n not in names]
    if missing:
        hint = (
            "; to compare regularizer families, rank them with --select-on val_loss"
            if col == "arm"
            else ""
        )
        raise ConfigError(
            f"--primary {','.join(primary)}: {', '.join(missing)} is not a treatment in "
            f"{source} (treatments, the {col} column: {', '.join(names[:12])}"
            f"{' ...' if len(names) > 12 else ''}){hint}"
        )
    return primary


def _predictions(
    args: argparse.Namespace, uri: str | None, rows: pd.DataFrame, pair: tuple[str, str] | None
) -> tuple[pd.DataFrame | None, str]:
    """Per-window predictions of the rows' trials and a console note on where they came from.
    From a store only the runs of the primary pair's treatments are read (the per-dataset
    tests need no other); None when there are none."""
    from synprune.stats.dm import PRED_COLUMNS
    from synprune.stats.io import load_predictions_csv

    if args.from_csv is not None:
        path = args.predictions
        if path is None:
            beside = [args.from_csv.with_name(n) for n in PREDICTION_FILES]
            path = next((p for p in beside if p.is_file()), None)
            if path is None:
                return None, ""
        preds = load_predictions_csv(path)
        return preds, f"per-window predictions: {path} ({len(preds)} rows)"
    if "run_id" not in rows.columns:
        return None, ""
    from synprune.stats.answers import DEFAULT_PRIMARY
    from synprune.tracking.reader import load_predictions

    col = "regularizer" if args.select_on or "arm" not in rows.columns else "arm"
    if pair is None:  # the default pair, when both are treatments (as stats.answers resolves it)
        names = set(rows[col].astype(str))
        pair = DEFAULT_PRIMARY if set(DEFAULT_PRIMARY) <= names else None
    if pair is None:
        return None, ""
    keep = rows[rows[col].astype(str).isin(pair) & (rows["status"] == "finished")]
    raw = load_predictions(uri, list(keep["run_id"].astype(str)))
    if raw.empty:
        return None, "no per-window predictions stored with these runs: per-dataset tests skipped"
    keys = ["run_id", *(c for c in PRED_COLUMNS if c in keep.columns and c not in raw.columns)]
    preds = keep[keys].merge(raw, on="run_id", how="inner")
    cols = [c for c in PRED_COLUMNS if c in preds.columns]
    extra = [c for c in preds.columns if c not in cols and c != "run_id"]
    absent = len(raw.attrs.get("missing", ()))
    note = f"per-window predictions of {len(keep) - absent} of {len(keep)} runs read"
    return preds[[*cols, *extra]], note

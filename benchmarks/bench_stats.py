"""Benchmark: `synprune stats --experiment ...` on a SQLite MLflow store with >= 3,000 trial runs.

Builds (or reuses, cached under bench-out/stats/) a store laid out as docs/ARCHITECTURE.md
"MLflow layout" says, with the tags and params the real writer derives from a TrialSpec
(tracking.records.spec_params): one sweep run, one flat trial run per trial (``sweep_run_id``),
per-epoch histories (train_loss, val_loss, sparsity) and every final metric; a few failed trials
and reruns. Then times the stats stage end to end and split into read / compute / write.
Prints figures; asserts no times. Exits 1 if `synprune stats` fails on the store.

    python benchmarks/bench_stats.py [--runs 3360] [--epochs 20] [--rebuild] [--api]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "bench-stats"
DATASETS = ("bitcoin", "aapl", "air_quality", "retail", "etth1", "exchange_rate")
MODELS = ("rnn", "lstm", "gru", "patchtst")
ARMS = ("none", "dropout", "mc_dropout", "synaptic")
EFFECT = {"none": 1.00, "dropout": 0.985, "mc_dropout": 0.99, "synaptic": 0.97}


def build_store(db: Path, n_runs: int, epochs: int) -> tuple[float, int]:
    """Create the store with log_batch (one call per run); returns (seconds, runs logged)."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    from synprune.experiment.spec import TrialSpec
    from synprune.tracking.records import spec_params
    from synprune.tracking.schema import ATTEMPTS_TAG, FINAL_METRICS, RUN_KIND, SWEEP_RUN_TAG

    t0 = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp_id = client.create_experiment(EXPERIMENT, artifact_location=(db.parent / "art").as_uri())
    parent = client.create_run(exp_id, run_name="sweep", tags={RUN_KIND: "sweep"})
    client.log_param(parent.info.run_id, "config", "benchmarks/bench_stats.py")
    seq_lens = (7, 14, 21, 28, 56, 96, 192)
    n_seeds = 7
    grid = list(itertools.product(DATASETS, MODELS, seq_lens, ARMS, range(n_seeds)))
    n_cells = max(1, n_runs // n_seeds)
    grid = grid[: n_cells * n_seeds] if n_runs < len(grid) else grid
    rng = np.random.default_rng(0)
    base = {d: float(rng.uniform(0.5, 500)) for d in DATASETS}
    logged = 0
    now = int(time.time() * 1000)
    for i, (ds, model, seq_len, arm, seed) in enumerate(grid):
        spec = TrialSpec.from_dict(
            {"dataset": ds, "model": {"name": model, "params": {}},
             "regularizer": {"name": arm, "params": {}}, "seq_len": seq_len, "seed": seed,
             "train": {"epochs": epochs}}
        )  # fmt: skip
        spec_id = spec.spec_id
        # the params and tags the real writer logs (tracking.records), so the layout cannot drift
        params, arm_tag = spec_params(spec), spec.arm
        # ~1% fail; half of those are rerun (same spec_id, finished later)
        outcomes = ["finished"]
        if rng.random() < 0.01:
            outcomes = ["failed", "finished"] if rng.random() < 0.5 else ["failed"]
        for attempt, status in enumerate(outcomes):
            tags = {
                SWEEP_RUN_TAG: parent.info.run_id,
                "spec_id": spec_id,
                "model": model,
                "dataset": ds,
                "regularizer": arm,
                "arm": arm_tag,
                "seq_len": str(seq_len),
                "horizon": "1",
                "seed": str(seed),
                "status": status,
                "git_sha": "0123456789abcdef",
                ATTEMPTS_TAG: str(attempt + 1),
                RUN_KIND: "trial",
            }
            run = client.create_run(
                exp_id, start_time=now + 10 * i + attempt * 10**7, tags=tags,
                run_name=f"{ds}-{model}-{arm}-{seq_len}-s{seed}",
            )  # fmt: skip
            rid = run.info.run_id
            ts = now + i
            metrics = []
            sparsity = 0.8 if arm == "synaptic" else 0.0
            for ep in range(epochs):
                loss = float(np.exp(-ep / 8) + 0.05 * rng.random())
                metrics += [
                    Metric("train_loss", loss, ts, ep),
                    Metric("val_loss", loss * 1.1, ts, ep),
                    Metric("sparsity", sparsity * min(1.0, ep / epochs), ts, ep),
                ]  # fmt: skip
            if status == "finished":
                naive = base[ds] * (1 + 0.01 * seq_len / 7)
                mae = naive * 0.9 * EFFECT[arm] * float(rng.lognormal(0, 0.05))
                final = {
                    "test_mae": mae, "test_rmse": mae * 1.3, "test_mse": (mae * 1.3) ** 2,
                    "naive_mae": naive, "naive_rmse": naive * 1.3, "ratio_to_naive": mae / naive,
                    "best_val_loss": 0.1 * mae / naive, "epochs_run": epochs,
                    "best_epoch": epochs - 1, "final_sparsity": sparsity, "train_seconds": 12.5,
                    "snaive_mae": naive * 1.1, "linear_mae": naive * 0.95, "smape": 5.0,
                    "mase": mae / naive, "season": 7, "linear_alpha": 1.0,
                }  # fmt: skip
                assert set(final) == set(FINAL_METRICS), "bench metrics drifted from the schema"
                metrics += [Metric(k, float(v), ts, epochs) for k, v in final.items()]
            client.log_batch(
                rid,
                metrics=metrics,
                params=[Param(k, str(v)) for k, v in params.items()],
                tags=[],
            )
            client.set_terminated(rid, "FINISHED" if status == "finished" else "FAILED")
            logged += 1
    client.set_terminated(parent.info.run_id)
    return time.perf_counter() - t0, logged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3360, help="trial runs to build (default 3360)")
    ap.add_argument("--epochs", type=int, default=20, help="history length per metric")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached store")
    ap.add_argument("--api", action="store_true", help="read via MlflowClient.search_runs only")
    ap.add_argument("--dir", type=Path, default=ROOT / "bench-out" / "stats")
    args = ap.parse_args()

    store = args.dir / "store"
    db = store / "mlflow.db"
    stamp = store / f"built-{args.runs}-{args.epochs}"
    if args.rebuild or not stamp.exists():
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        secs, n = build_store(db, args.runs, args.epochs)
        stamp.write_text(f"{n} runs in {secs:.1f} s\n")
        print(f"build: {n} runs (log_batch per run) in {secs:.1f} s ({1000 * secs / n:.1f} ms/run)")
    else:
        print(f"build: reused cached store {db} ({stamp.read_text().strip()})")

    uri = f"sqlite:///{db}"
    out = args.dir / "report"
    argv = ["stats", "--experiment", EXPERIMENT, "--tracking-uri", uri, "--out", str(out)]
    argv += ["--api-read"] if args.api else []

    # 1) cold end to end, as a user runs it: a fresh interpreter (imports included)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "synprune", *argv, "--no-log"], capture_output=True, text=True
    )
    cold = time.perf_counter() - t0
    print(f"stats (fresh process, --no-log): exit {proc.returncode}, {cold:.2f} s wall")
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return 1

    # 2) the two readers side by side (mlflow already imported)
    t0 = time.perf_counter()
    import mlflow  # noqa: F401

    from synprune.tracking.reader import load_mlflow

    print(f"import mlflow: {time.perf_counter() - t0:.2f} s")
    for fast in (True, False):
        t0 = time.perf_counter()
        rows, _ = load_mlflow(EXPERIMENT, uri, "test_mae", fast=fast)
        name = "SQL fast path" if fast else "MlflowClient.search_runs"
        print(f"read via {name:<24}: {time.perf_counter() - t0:6.2f} s ({len(rows.rows)} trials)")

    # 3) in-process end to end with the split read / compute / write / log
    from synprune.cli import stats as stats_cmd
    from synprune.cli.main import main as cli_main

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    rc = cli_main(argv)
    total = time.perf_counter() - t0
    print(f"stats (in-process, warm imports): exit {rc}, {total:.2f} s")
    if rc != 0:
        return 1
    for k, v in stats_cmd.LAST_TIMINGS.items():
        print(f"  {k:<8} {v:6.2f} s")
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

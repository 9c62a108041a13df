"""Sweep throughput: the same 8-trial grid through ``synprune sweep`` (Ray Tune, 2 trials at a
time on 2 cores) vs a plain sequential loop over ``run_trial``. Prints figures, asserts nothing.

Fairness: torch uses ONE thread in both arms (the sweep gives each trial 1 CPU and sets torch
threads to it; the loop calls ``torch.set_num_threads(1)``), early stopping is off so every trial
runs the same epochs, and both arms train the same specs on the same in-memory data. The sweep
arm includes everything a user waits for: validation, Ray start-up, MLflow writes (SQLite in a
temp folder) and shutdown.

    python benchmarks/bench_sweep.py [--epochs 45] [--cpus 2] [--seeds 2] [--profile]

Ideal sweep wall = sequential wall / cpus; Ray's per-trial overhead = (sweep wall - ideal) / N.
``--seeds`` scales the grid (4 x seeds trials): fixed costs (Ray start, a Tuner pass, the
workers' imports, the first export of each architecture's logged model) are paid once per
sweep, so the per-trial overhead of a study of ~1000 trials is that of a large grid.
``--profile`` adds where the sweep's time went (driver side).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

CONFIG = """
experiment = "bench"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "dropout", "mc_dropout", "synaptic"]
seq_len = [48]
seed = {seeds}
[train]
epochs = {epochs}
batch_size = 32
patience = 0
[models.lstm]
hidden_size = 64
num_layers = 2
[regularizers.mc_dropout]
samples = 5
[resources]
cpu = 1
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--epochs", type=int, default=45, help="epochs per trial (~20 s at 45 on a quiet core)"
    )
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    ap.add_argument("--seeds", type=int, default=2, help="seeds in the grid (4 trials each)")
    ap.add_argument("--profile", action="store_true", help="print the sweep's parts too")
    args = ap.parse_args()

    import torch

    from synprune.config.loader import load_config
    from synprune.experiment.trial import run_trial
    from synprune.runtime.sweep import load_data, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "bench.toml")
        path.write_text(CONFIG.format(epochs=args.epochs, seeds=list(range(args.seeds))))
        cfg = load_config(path)
        specs = cfg.specs()
        print(
            f"grid: {len(specs)} trials, lstm(64x2) on synthetic, seq_len 48, "
            f"{args.epochs} epochs, torch threads = 1 in both arms; "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )

        torch.set_num_threads(1)
        data = load_data(specs)
        t0 = time.perf_counter()
        per_trial = []
        for s in specs:
            t = time.perf_counter()
            run_trial(s, next(iter(data.values())))
            per_trial.append(time.perf_counter() - t)
        seq = time.perf_counter() - t0
        print(
            f"sequential loop: {seq:7.1f} s  (per trial {min(per_trial):.1f}-"
            f"{max(per_trial):.1f} s, mean {seq / len(specs):.1f} s)"
        )

        import ray

        from synprune.tracking.writer import Tracker

        uri = f"sqlite:///{tmp}/store/mlflow.db"
        t0 = time.perf_counter()
        Tracker(uri, "bench")  # a store that exists already, as on every run but the first
        store_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        ray_s = time.perf_counter() - t0
        try:
            t1 = time.perf_counter()
            summary = run_sweep(cfg, uri)
            sweep_only = time.perf_counter() - t1
        finally:
            ray.shutdown()
        sweep = time.perf_counter() - t0
        ideal = seq / args.cpus
        print(
            f"(creating the empty MLflow store, once per store, took {store_s:.1f} s: not counted)"
        )
        print(
            f"sweep ({args.cpus} CPUs):  {sweep:7.1f} s incl. Ray start-up {ray_s:.1f} s "
            f"and shutdown ({summary.finished} finished, {summary.failed} failed)"
        )
        print(
            f"throughput ratio sequential/sweep: {seq / sweep:.2f}x incl. Ray start, "
            f"{seq / sweep_only:.2f}x without (target >= 1.7x, ideal {args.cpus:.1f}x)"
        )
        print(
            f"Ray + MLflow overhead: {sweep - ideal:.1f} s over the ideal {ideal:.1f} s = "
            f"{(sweep - ideal) / len(specs):.2f} s per trial "
            f"({(sweep_only - ideal) / len(specs):.2f} s without Ray start-up)"
        )
        print(
            f"load average after: {os.getloadavg()[0]:.2f} (other processes on this machine "
            "compete for the same cores)"
        )
        if args.profile:
            from synprune.tracking.logged_model import EXPORTS

            n = len(specs)
            print("where the sweep's time went (driver, wall seconds):")
            print(f"  {'Ray start-up':28s} {ray_s:7.2f}")
            for part, secs in summary.timings.items():
                print(f"  {part:28s} {secs:7.2f}  ({secs / n:.3f} per trial)")
            print(
                f"  logged models: {EXPORTS['fresh']} exported with torch.export, "
                f"{EXPORTS['reused']} reused a cached program"
            )


if __name__ == "__main__":
    main()

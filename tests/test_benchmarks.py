"""Every script in benchmarks/ still runs against today's code, in its quickest mode.

The benchmarks are not run in the fast suite and their timings are never asserted (they print
ratios; see DESIGN.md). What this guards is that they do not rot: bench_stats once built a store
the stats stage no longer accepted and went on timing the error. Each script runs as a user runs
it (a fresh interpreter) and must exit 0 and print the lines its readers look for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CASES = {
    "bench_pruning.py": (["--quick"], ["upd/torch", "overhead (epoch difference)"]),
    "bench_distributed.py": (["--quick"], ["exact k-th |w|", "yes"]),
    "bench_train.py": (["--quick"], ["Median seconds per epoch", "Test MAE vs naive MAE"]),
    "bench_stats.py": (
        ["--runs", "56", "--epochs", "2", "--dir", "{tmp}"],
        ["stats (fresh process, --no-log): exit 0", "read via SQL fast path", "compute"],
    ),
    "bench_sweep.py": (["--epochs", "1"], ["8 finished, 0 failed", "throughput ratio"]),
}


def test_every_benchmark_is_covered() -> None:
    assert sorted(CASES) == sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs(script: str, tmp_path: Path) -> None:
    args, expected = CASES[script]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/unused.db"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script)]
        + [a.format(tmp=tmp_path) for a in args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    out = proc.stdout
    assert proc.returncode == 0, (
        f"{script} exited {proc.returncode}:\n{out[-2000:]}\n{proc.stderr[-3000:]}"
    )
    for line in expected:
        assert line in out, f"{script} no longer prints {line!r}:\n{out[-2000:]}"

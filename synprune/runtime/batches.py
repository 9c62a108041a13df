"""What a sweep's Tune trial runs: a *batch* of training groups (:func:`batches` cuts them,
:func:`sweep_trainable` runs them in a Ray worker, one ``tune.report`` per group as it ends).
See ``runtime.sweep`` ("Execution") and ``runtime.recorder`` for how the driver records them.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from synprune.experiment.spec import TrialSpec
from synprune.runtime.executor import data_key, execute, results_payload

#: loaded datasets of this worker process by object reference (an actor is reused across
#: trials): the same ``SeriesData`` object keeps ``experiment.trial``'s reference cache warm
_DATA: dict[str, Any] = {}


def _dataset(ref: Any) -> Any:
    key = ref.hex()
    if key not in _DATA:
        while len(_DATA) >= 8:
            _DATA.pop(next(iter(_DATA)))
        _DATA[key] = ray.get(ref)
    return _DATA[key]


def sweep_trainable(
    config: dict[str, Any],
    *,
    data_refs: Mapping[str, Any],
    threads: int,
    plugins: tuple[str, ...] = (),
    cpus_per_worker: float = 1.0,
    max_failures: int = 0,
) -> None:
    """The Tune function trainable: a batch of training groups, one report per group as it
    ends (``runtime.recorder``). A group that raises is retried here up to ``max_failures``
    times, then reported with its traceback; the batch goes on with its next group."""
    import torch

    from synprune.config.loader import import_plugins

    import_plugins(plugins)
    torch.set_num_threads(threads)
    done = _done_file()
    skip = _read_done(done)
    for i, group in enumerate(config["batch"]["groups"]):
        if i in skip:  # reported before Tune restarted this batch
            continue
        specs = [TrialSpec.from_dict(d) for d in group["specs"]]
        data = _dataset(data_refs[data_key(specs[0])])
        t0 = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                results = execute(specs, data, cpus_per_worker=cpus_per_worker, plugins=plugins)
            except Exception:
                if attempt <= max_failures:
                    continue
                report: dict[str, Any] = {"error": traceback.format_exc()}
            else:
                report = {"results": results_payload(results)}
            break
        tune.report({"group": i, "attempts": attempt, "seconds": time.monotonic() - t0, **report})
        _mark_done(done, i)


def _done_file() -> Path | None:
    """Where this trial notes the groups it reported, so that a batch Tune restarts on the
    same node skips them (elsewhere they run again and the driver drops the repeats)."""
    try:
        return Path(tune.get_context().get_trial_dir()) / "groups_done.txt"
    except Exception:
        return None


def _read_done(path: Path | None) -> set[int]:
    try:
        return {int(x) for x in path.read_text().split()} if path is not None else set()
    except (OSError, ValueError):
        return set()


def _mark_done(path: Path | None, index: int) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError), path.open("a") as fh:
        fh.write(f"{index}\n")


def batches(groups: Sequence[list[TrialSpec]], slots: int) -> list[list[list[TrialSpec]]]:
    """Training groups in Tune trials of several groups each: grouped by cell (dataset,
    window, horizon, protocol: they share the loaded data and its reference forecasts), then
    cut into batches of at most ``ceil(len(groups) / (8 * slots))`` groups, so that each slot
    gets about 8 batches (the last round stays short) and the per-trial cost of Tune is paid
    once per batch, not once per group."""
    if not groups:
        return []
    size = max(1, math.ceil(len(groups) / (8 * max(1, slots))))
    order = sorted(
        range(len(groups)),
        key=lambda i: (data_key(groups[i][0]), groups[i][0].seq_len, groups[i][0].horizon,
                       str(groups[i][0].protocol), i),
    )  # fmt: skip
    out: list[list[list[TrialSpec]]] = []
    cell: tuple[Any, ...] | None = None
    for i in order:
        g = groups[i]
        key = (data_key(g[0]), g[0].seq_len, g[0].horizon, str(g[0].protocol))
        if not out or key != cell or len(out[-1]) >= size:
            out.append([])
        cell = key
        out[-1].append(g)
    return out

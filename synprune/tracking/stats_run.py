"""Log the stats stage's files as artifacts of a new MLflow run named ``stats``.

The run carries ``synprune.kind=stats`` (and ``run_kind=stats``, the tag tracking/writer.py
uses for its own runs) and no ``spec_id`` tag, so the stats reader never takes
it for a trial. MLflow is imported lazily.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synprune.stats.analysis import StatsResult


def log_stats_run(
    tracking_uri: str | None,
    experiment_id: str,
    paths: Sequence[Path],
    res: StatsResult,
    args: argparse.Namespace,
) -> str:
    """Create the ``stats`` run, log params / summary metrics / the files; returns its run id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from mlflow.utils.time import get_current_time_millis

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.create_run(
        experiment_id, run_name="stats", tags={"synprune.kind": "stats", "run_kind": "stats"}
    )
    rid = run.info.run_id
    try:
        params = {
            "metric": res.metric,
            "blocks": ",".join(res.design.blocks),
            "aggregate": res.aggregate,
            "alpha": res.alpha,
            "strict": bool(args.strict),
        }
        values = {
            "n_blocks": res.design.n_blocks,
            "k": res.design.k,
            "n_dropped_blocks": len(res.design.dropped),
        }
        if res.overall is not None:
            o = res.overall
            values |= {
                "friedman_chi2": o.chi2,
                "friedman_p": o.p_chi2,
                "iman_davenport_f": o.f_stat,
            }
            values |= {"iman_davenport_p": o.p_f, "nemenyi_cd": o.cd}
        for arm, r in res.avg_ranks.items():
            values[f"avg_rank.{arm}"] = float(r)
        now = get_current_time_millis()
        metrics = [Metric(k, float(v), now, 0) for k, v in values.items() if np.isfinite(float(v))]
        client.log_batch(rid, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()])
        for p in paths:
            client.log_artifact(rid, str(p))
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    client.set_terminated(rid, "FINISHED")
    return rid

"""Log the stats stage's files as artifacts of a new MLflow run named ``stats``.

The run carries ``synprune.kind=stats`` (and ``run_kind=stats``, the tag tracking/writer.py
uses for its own runs) and no ``spec_id`` tag, so the stats reader never takes
it for a trial. It is also tagged with the sha256 of its input (the trial rows analysed and the
options): :func:`find_stats_run` finds an earlier run of the identical input, and the CLI then
logs no second one. MLflow is imported lazily.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synprune.stats.analysis import StatsResult
from synprune.tracking.schema import RUN_KIND, STATS_INPUT_TAG, STATS_KIND_TAG


def find_stats_run(tracking_uri: str | None, experiment_id: str, digest: str) -> str | None:
    """The id of a finished stats run of ``experiment_id`` tagged with ``digest``, if any."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    runs = client.search_runs(
        [experiment_id],
        f"tags.`{STATS_KIND_TAG}` = 'stats' AND tags.`{STATS_INPUT_TAG}` = '{digest}' "
        "AND attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def log_stats_run(
    tracking_uri: str | None,
    experiment_id: str,
    paths: Sequence[Path],
    res: StatsResult,
    args: argparse.Namespace,
    digest: str = "",
) -> str:
    """Create the ``stats`` run, log params / summary metrics / the files; returns its run id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from mlflow.utils.time import get_current_time_millis

    client = MlflowClient(tracking_uri=tracking_uri)
    tags = {STATS_KIND_TAG: "stats", RUN_KIND: "stats"}
    if digest:
        tags[STATS_INPUT_TAG] = digest
    run = client.create_run(experiment_id, run_name="stats", tags=tags)
    rid = run.info.run_id
    try:
        params = {
            "metric": res.metric,
            "blocks": ",".join(res.design.blocks),
            "aggregate": res.aggregate,
            "alpha": res.alpha,
            "strict": bool(args.strict),
            "treatment": res.treatment,
            "select_on": res.selection.on if res.selection is not None else "",
        }
        values: dict[str, float] = {
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
            values |= {"iman_davenport_p": o.p_f, "nemenyi_cd": o.cd, "friedman_exact_p": o.p_exact}
        for arm, r in res.avg_ranks.items():
            values[_metric_name(f"avg_rank.{arm}")] = float(r)
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


def _metric_name(name: str) -> str:
    """MLflow metric names allow letters, digits, ``_ - . / `` and space: ``[``, ``=`` ... -> _"""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)

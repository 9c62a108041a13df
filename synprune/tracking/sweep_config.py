"""The ``[stats]`` table of the config a sweep logged (its run's ``config/*.toml`` artifact),
so ``synprune stats --experiment`` answers the primary comparison the config pre-registered."""

from __future__ import annotations

import tempfile
from pathlib import Path

from synprune.config.stats_table import StatsOptions, stats_options_from_text
from synprune.tracking.schema import RUN_KIND


def logged_stats_options(uri: str, experiment_id: str) -> tuple[StatsOptions, str] | None:
    """(options, where they come from) from the latest sweep run's logged TOML config; None
    when no sweep run or no config file was logged. A malformed ``[stats]`` table raises
    ConfigError naming the artifact."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs(
        [experiment_id],
        f"tags.{RUN_KIND} = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    tomls = sorted(a.path for a in client.list_artifacts(run.info.run_id, "config"))
    tomls = [p for p in tomls if p.endswith(".toml")]
    if not tomls:
        return None
    from synprune.tracking.reader import _no_progress_bars

    with tempfile.TemporaryDirectory() as tmp, _no_progress_bars():
        local = client.download_artifacts(run.info.run_id, tomls[0], tmp)
        text = Path(local).read_text(encoding="utf-8")
    where = f"{tomls[0]} logged by sweep run {run.info.run_name} ({run.info.run_id})"
    return stats_options_from_text(text, where), where

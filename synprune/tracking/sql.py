"""Fast path: read trial runs straight from an MLflow SQL store (SQLite, PostgreSQL, MySQL).

``MlflowClient.search_runs`` materialises every run's params, tags and latest metrics as
entities; for thousands of runs that dominates the stats stage (see benchmarks/bench_stats.py).
Here three SELECTs over MLflow's own tables (``runs``, ``tags``, ``latest_metrics``,
``params`` -- the tables ``SqlAlchemyStore`` serves ``run.data`` from) fetch only what the stats
stage needs. Read only. Any failure (not a SQL URI, unexpected schema) returns ``None`` and the
caller falls back to the MLflow API. Tag and metric names come from :mod:`.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synprune.tracking.schema import ARM, ERROR_TAG, RUN_KIND, SPEC_ID, STATUS, TRIAL_TAGS

TAG_KEYS = tuple(dict.fromkeys((*TRIAL_TAGS, SPEC_ID, ARM, STATUS, RUN_KIND, ERROR_TAG)))
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def _sqlite_path(uri: str) -> Path | None:
    """File of a ``sqlite:///PATH`` URI (None for in-memory or odd forms)."""
    rest = uri.split(":///", 1)[1] if ":///" in uri else ""
    return Path(rest.split("?", 1)[0]) if rest and rest != ":memory:" else None


def _frame(
    conn: Any,
    sa: Any,
    sql: str,
    params: dict[str, Any],
    cols: list[str],
    keys: Sequence[Any] | None = None,
) -> pd.DataFrame:
    text = sa.text(sql)
    if keys is not None:
        text = text.bindparams(sa.bindparam("keys", expanding=True))
        params = {**params, "keys": list(keys)}
    return pd.DataFrame(conn.execute(text, params).all(), columns=cols)


def read_runs_sql(
    tracking_uri: str, experiment: str, metrics: Sequence[str]
) -> tuple[str, list[dict[str, object]], dict[str, dict[str, str]]] | None:
    """(experiment_id, records, params by run id) for the active runs tagged spec_id.

    Each record has run_id, start_time, the TAG_KEYS and the requested metrics (NaN when not
    logged); finished, failed and other runs alike (the caller sorts them out). Returns None
    when the store is not a SQL store, the SQLite file does not exist (it is never created
    here), the experiment is not found, or the read fails: the caller then goes through the
    MLflow API, which also words the errors.
    """
    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0]
    if scheme not in SQL_SCHEMES:
        return None
    if scheme == "sqlite":
        db = _sqlite_path(tracking_uri)
        if db is None or not db.is_file():
            return None
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - mlflow depends on sqlalchemy
        return None
    metrics = list(dict.fromkeys(metrics))
    active = "r.experiment_id = :e AND r.lifecycle_stage = 'active'"
    engine = sa.create_engine(tracking_uri)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(
                    "SELECT experiment_id FROM experiments "
                    "WHERE name = :n AND lifecycle_stage = 'active'"
                ),
                {"n": experiment},
            ).all()
            if len(found) != 1:
                return None
            e = {"e": found[0][0]}
            runs = _frame(
                conn, sa, f"SELECT r.run_uuid, r.start_time FROM runs r WHERE {active}", e,
                ["run_id", "start_time"],
            )  # fmt: skip
            tags = _frame(
                conn, sa,
                "SELECT t.run_uuid, t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = "
                f"t.run_uuid WHERE {active} AND t.key IN :keys", e, ["run_id", "key", "value"],
                TAG_KEYS,
            )  # fmt: skip
            mets = _frame(
                conn, sa,
                "SELECT m.run_uuid, m.key, m.value, m.is_nan FROM latest_metrics m JOIN runs r "
                f"ON r.run_uuid = m.run_uuid WHERE {active} AND m.key IN :keys", e,
                ["run_id", "key", "value", "is_nan"], metrics,
            )  # fmt: skip
            params = _frame(
                conn, sa,
                "SELECT p.run_uuid, p.key, p.value FROM params p JOIN runs r ON r.run_uuid = "
                f"p.run_uuid WHERE {active}", e, ["run_id", "key", "value"],
            )  # fmt: skip
    except Exception:
        return None
    finally:
        engine.dispose()
    wide = tags.pivot(index="run_id", columns="key", values="value")
    wide = wide.reindex(columns=list(TAG_KEYS))
    wide = wide[wide[SPEC_ID].notna()]
    if not mets.empty:
        vals = mets["value"].astype(float).where(~mets["is_nan"].astype(bool), np.nan)
        mwide = mets.assign(value=vals).pivot(index="run_id", columns="key", values="value")
    else:
        mwide = pd.DataFrame(index=wide.index)
    mwide = mwide.reindex(index=wide.index, columns=metrics)
    out = wide.join(mwide).join(runs.set_index("run_id")["start_time"])
    out["start_time"] = out["start_time"].fillna(0)
    params = params[params["run_id"].isin(wide.index)]
    by_run: dict[str, dict[str, str]] = {rid: {} for rid in wide.index}
    for rid, key, value in params.itertuples(index=False):
        by_run[rid][key] = value
    return str(e["e"]), out.reset_index().to_dict("records"), by_run

"""Fast path: read trial runs straight from an MLflow SQL store (SQLite, PostgreSQL, MySQL).

``MlflowClient.search_runs`` materialises every run's params, tags and latest metrics as
entities; for thousands of runs that dominates the stats stage (see benchmarks/bench_stats.py).
Here two SELECTs over MLflow's own tables (``runs``, ``tags``, ``latest_metrics`` — the same
tables ``SqlAlchemyStore`` serves ``run.data.tags`` / ``run.data.metrics`` from) fetch only the
tags and metrics the stats stage needs. Read only. Any failure (not a SQL URI, unexpected
schema) returns ``None`` and the caller falls back to the MLflow API.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

TAG_KEYS = ("spec_id", "dataset", "model", "regularizer", "seq_len", "horizon", "seed")
TAG_KEYS += ("status", "run_kind")
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def _sqlite_path(uri: str) -> Path | None:
    """File of a ``sqlite:///PATH`` URI (None for in-memory or odd forms)."""
    rest = uri.split(":///", 1)[1] if ":///" in uri else ""
    return Path(rest.split("?", 1)[0]) if rest and rest != ":memory:" else None


def read_runs_sql(
    tracking_uri: str, experiment: str, metrics: Sequence[str]
) -> tuple[str, list[dict[str, object]]] | None:
    """(experiment_id, records) for the active runs tagged spec_id and status=finished.

    Each record has run_id, start_time, the TAG_KEYS and the requested metrics (NaN when not
    logged). Returns None when the store is not a SQL store, the SQLite file does not exist (it
    is never created here), the experiment is not found, or the read fails: the caller then
    goes through the MLflow API, which also words the errors.
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
            experiment_id = found[0][0]
            runs = pd.DataFrame(
                conn.execute(
                    sa.text(
                        "SELECT run_uuid, start_time FROM runs "
                        "WHERE experiment_id = :e AND lifecycle_stage = 'active'"
                    ),
                    {"e": experiment_id},
                ).all(),
                columns=["run_id", "start_time"],
            )
            tags = pd.DataFrame(
                conn.execute(
                    sa.text(
                        "SELECT t.run_uuid, t.key, t.value FROM tags t "
                        "JOIN runs r ON r.run_uuid = t.run_uuid "
                        "WHERE r.experiment_id = :e AND r.lifecycle_stage = 'active' "
                        "AND t.key IN :keys"
                    ).bindparams(sa.bindparam("keys", expanding=True)),
                    {"e": experiment_id, "keys": list(TAG_KEYS)},
                ).all(),
                columns=["run_id", "key", "value"],
            )
            mets = pd.DataFrame(
                conn.execute(
                    sa.text(
                        "SELECT m.run_uuid, m.key, m.value, m.is_nan FROM latest_metrics m "
                        "JOIN runs r ON r.run_uuid = m.run_uuid "
                        "WHERE r.experiment_id = :e AND r.lifecycle_stage = 'active' "
                        "AND m.key IN :keys"
                    ).bindparams(sa.bindparam("keys", expanding=True)),
                    {"e": experiment_id, "keys": list(dict.fromkeys(metrics))},
                ).all(),
                columns=["run_id", "key", "value", "is_nan"],
            )
    except Exception:
        return None
    finally:
        engine.dispose()
    wide = tags.pivot(index="run_id", columns="key", values="value")
    wide = wide.reindex(columns=list(TAG_KEYS))
    wide = wide[wide["spec_id"].notna() & (wide["status"] == "finished")]
    if not mets.empty:
        vals = mets["value"].astype(float).where(~mets["is_nan"].astype(bool), np.nan)
        mwide = mets.assign(value=vals).pivot(index="run_id", columns="key", values="value")
    else:
        mwide = pd.DataFrame(index=wide.index)
    mwide = mwide.reindex(index=wide.index, columns=list(dict.fromkeys(metrics)))
    out = wide.join(mwide).join(runs.set_index("run_id")["start_time"])
    out["start_time"] = out["start_time"].fillna(0)
    return str(experiment_id), out.reset_index().to_dict("records")

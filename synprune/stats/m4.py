"""The M4 table: a study on M4 series scored as the M4 competition scores, beside its references.

When every usable row is an M4 series (``m4_hourly:H123``), ``m4_table`` gives, per model and
treatment (a family represented per series by its arm selected on validation, or an arm):
``smape`` and ``mase`` as M4 averages them -- per series over the horizon (each trial logs
that), here then over seeds (the expected score of one training run), then the mean over
series -- and ``owa`` relative to Naive2 on the very same series (Makridakis, Spiliotis &
Assimakopoulos 2020, "The M4 Competition: 100,000 time series and 61 forecasting methods",
IJF 36(1); OWA = (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2). Beside them: the reference
forecasters (naive, seasonal naive, Naive2, the linear reference) on the same series, computed
from the M4 files (:func:`synprune.references.m4.reference_scores`), and, when the rows cover
all series of the collection, the published M4 results on it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from synprune.stats.refs import dataset_group

#: published M4 Hourly results over all 414 series (sMAPE, MASE): the statistical benchmarks
#: and the M4 paper's Table 4 (Makridakis et al. 2020); sNaive and Naive2 reproduced exactly by
#: ``synprune reference --dataset m4_hourly``
PUBLISHED: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "m4_hourly": {
        "sNaive": (13.912, 1.193),
        "Naive2": (18.383, 2.395),
        "Theta": (18.138, 2.455),
        "RNN (M4 benchmark)": (14.698, 3.048),
        "MLP (M4 benchmark)": (13.842, 2.607),
        "Smyl (winner)": (9.328, 0.893),
    }
}
COLUMNS = ("model", "forecaster", "source", "series", "seeds", "smape", "mase", "owa")
#: the model column of rows that are not this study's models
REFERENCE_MODEL = "-"


def collection(dataset: str) -> str | None:
    """``m4_hourly`` for ``m4_hourly:H12``; ``None`` for anything else (``refs.dataset_group``
    is the one parser of series ids)."""
    group = dataset_group(dataset)
    return group if group != str(dataset) else None


def m4_rows(rows: pd.DataFrame) -> str | None:
    """The M4 collection every row's dataset belongs to, or ``None`` (not all M4, or mixed)."""
    found = {collection(d) for d in rows["dataset"].unique()}
    return found.pop() if len(found) == 1 and None not in found else None


def treatment_scores(rows: pd.DataFrame, treatment: str) -> pd.DataFrame:
    """Per model and treatment: mean over series of the seed-mean sMAPE / MASE (no OWA yet)."""
    per_series = (
        rows.groupby(["model", treatment, "dataset"], sort=True)
        .agg(smape=("smape", "mean"), mase=("mase", "mean"), seeds=("seed", "nunique"))
        .reset_index()
    )
    out = (
        per_series.groupby(["model", treatment], sort=True)
        .agg(
            series=("dataset", "nunique"),
            seeds=("seeds", "min"),
            smape=("smape", "mean"),
            mase=("mase", "mean"),
        )
        .reset_index()
        .rename(columns={treatment: "forecaster"})
    )
    out["source"] = "this study"
    return out


def m4_table(
    rows: pd.DataFrame,
    treatment: str,
    references: Mapping[str, Mapping[str, float]],
    *,
    total_series: int | None = None,
    name: str = "m4_hourly",
) -> pd.DataFrame:
    """The table of this module's docstring. ``rows``: finished trials with ``smape`` and
    ``mase``; ``references``: ``reference_scores`` over the rows' series (``naive2`` among
    them); ``total_series``: the collection's size (published rows only when all are here)."""
    if not {"smape", "mase"} <= set(rows.columns):
        raise ValueError("m4_table: the rows carry no smape / mase (trials logged before them)")
    ours = treatment_scores(rows.dropna(subset=["smape", "mase"]), treatment)
    base = references["naive2"]
    ours["owa"] = 0.5 * (ours["smape"] / base["smape"] + ours["mase"] / base["mase"])
    n = int(rows["dataset"].nunique())
    refs = pd.DataFrame(
        [
            {
                "model": REFERENCE_MODEL,
                "forecaster": f,
                "source": "reference, same series",
                "series": n,
                "seeds": 0,
                **dict(s),
            }
            for f, s in references.items()
        ]
    )
    frames = [ours, refs]
    if total_series is not None and n == total_series and name in PUBLISHED:
        pub = PUBLISHED[name]
        b_smape, b_mase = pub["Naive2"]
        frames.append(
            pd.DataFrame(
                [
                    {
                        "model": REFERENCE_MODEL,
                        "forecaster": f,
                        "source": "published (M4, all series)",
                        "series": n,
                        "seeds": 0,
                        "smape": sm,
                        "mase": ma,
                        "owa": 0.5 * (sm / b_smape + ma / b_mase),
                    }
                    for f, (sm, ma) in pub.items()
                ]
            )
        )
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


#: the M4 collections stats can score, with their frequency (``datasets.m4``)
FREQUENCIES = {"m4_hourly": "hourly"}
DEFAULT_LINEAR_SEQ_LEN = 168  # the reference CLI's default: one week of hourly points


def m4_answer(rows: pd.DataFrame, treatment: str) -> tuple[pd.DataFrame | None, str]:
    """``(m4_table, note)`` for rows that are all M4 series, else ``(None, "")``. The references
    need the M4 files (``SYNPRUNE_DATA_DIR``); without them the table is skipped with a note.
    The linear reference takes the rows' input window when they share one."""
    name = m4_rows(rows)
    if name is None or name not in FREQUENCIES:
        return None, ""
    if not {"smape", "mase"} <= set(rows.columns) or rows[["smape", "mase"]].isna().all().any():
        return None, "M4 table skipped: the rows carry no smape / mase"
    from synprune.datasets.m4 import m4_spec, read_m4
    from synprune.errors import InputError
    from synprune.references.m4 import reference_scores

    freq = FREQUENCIES[name]
    try:
        table = read_m4(freq)
    except (InputError, OSError) as exc:
        return None, f"M4 table skipped: the M4 files could not be read ({exc})"
    ids = sorted({str(d).partition(":")[2] for d in rows["dataset"].unique()})
    spec = m4_spec(freq)
    windows = sorted(rows["seq_len"].unique())
    seq_len = int(windows[0]) if len(windows) == 1 else DEFAULT_LINEAR_SEQ_LEN
    refs = reference_scores(
        {i: table[i] for i in ids}, int(spec["horizon"]), int(spec["season"]), seq_len
    )
    note = f"Linear reference: ridge on the last {seq_len} points (the M4 protocol's layout)."
    return m4_table(rows, treatment, refs, total_series=len(table), name=name), note

"""``synprune reference --dataset m4_hourly [--json]``: the reference forecasters, M4-scored.

Scores naive, snaive, naive2 (M4's benchmarks, ``synprune.references.m4``) and linear (ridge on
an input window of ``--seq-len`` points, fit on the training part, alpha chosen on the last
``horizon`` training points; ``references.m4.linear_m4``) on every series of an M4 dataset
(``m4_hourly``) or on one (``m4_hourly:H5``): sMAPE and MASE per series averaged over its
horizon, then over series; OWA relative to Naive2 on the same series. Only M4 datasets for now:
other datasets have no official test horizon / Naive2 benchmark to place them against.
"""

from __future__ import annotations

import argparse
import json

from synprune.errors import FieldError

FORECASTERS = ("naive", "snaive", "naive2", "linear")  # references.m4.REFERENCE_FORECASTERS
#: dataset name -> M4 frequency (``synprune.datasets.m4``)
M4_DATASETS = {"m4_hourly": "hourly"}
DEFAULT_SEQ_LEN = 168  # one week of hourly points


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", required=True,
        help="m4_hourly (all 414 series) or m4_hourly:H123 (one series)",
    )  # fmt: skip
    parser.add_argument(
        "--seq-len", type=int, default=DEFAULT_SEQ_LEN,
        help=f"input window of the linear model (default {DEFAULT_SEQ_LEN})",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", default=None,
        help="folder with m4_hourly_train.csv / m4_hourly_test.csv (default: "
        "$SYNPRUNE_DATA_DIR or ~/.cache/synprune/datasets; downloaded when missing)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def parse_dataset(value: str) -> tuple[str, str, str | None]:
    """``(dataset, frequency, series id or None)`` of ``--dataset``; ``FieldError`` otherwise."""
    name, sep, series = value.partition(":")
    if name not in M4_DATASETS or (sep and not series):
        allowed = ", ".join(f"{d} or {d}:ID (e.g. {d}:H1)" for d in M4_DATASETS)
        raise FieldError(
            "--dataset", value, f"{allowed}; other datasets are not supported by reference yet"
        )
    return name, M4_DATASETS[name], (series or None)


def evaluate(
    dataset: str, seq_len: int = DEFAULT_SEQ_LEN, data_dir: str | None = None
) -> dict[str, dict[str, float]]:
    """``{forecaster: {"smape", "mase", "owa"}}`` on ``dataset`` (``m4_hourly[:ID]``)."""
    from synprune.datasets.m4 import m4_spec, read_m4, read_m4_series
    from synprune.references.m4 import reference_scores

    _, freq, series = parse_dataset(dataset)
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise FieldError("--seq-len", seq_len, "an integer >= 1")
    spec = m4_spec(freq)
    horizon, season = int(spec["horizon"]), int(spec["season"])
    if series is None:
        table = read_m4(freq, data_dir=data_dir)
    else:
        try:
            table = {series: read_m4_series(series, freq, data_dir=data_dir)}
        except FieldError as err:  # unknown id: name the option the user typed
            raise FieldError(
                "--dataset", dataset, f"{dataset.partition(':')[0]}:ID with {err.allowed}"
            ) from None
    longest = min(len(train) for train, _ in table.values()) - 2 * horizon
    if seq_len > longest:
        raise FieldError(
            "--seq-len", seq_len, f"an integer in [1, {longest}] for {dataset} (the shortest "
            f"training series minus the validation and one target of {horizon} points)"
        )  # fmt: skip
    return reference_scores(table, horizon, season, seq_len)


def _table(scores: dict[str, dict[str, float]], dataset: str, seq_len: int) -> str:
    rows = [("forecaster", "sMAPE", "MASE", "OWA")]
    rows += [
        (f, f"{s['smape']:.3f}", f"{s['mase']:.3f}", f"{s['owa']:.3f}") for f, s in scores.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    note = (
        f"{dataset}: sMAPE / MASE averaged per series over the horizon, then over series; "
        f"OWA relative to naive2; linear: ridge on {seq_len} inputs"
    )
    return "\n".join([note, *lines])


def run(args: argparse.Namespace) -> int:
    scores = evaluate(args.dataset, args.seq_len, args.data_dir)
    if args.json:
        print(json.dumps(scores, sort_keys=False))
    else:
        print(_table(scores, args.dataset, args.seq_len))
    return 0

"""Per-window test predictions: the payload, the ``predictions.csv.gz`` artifact the writer
logs, and ``load_predictions`` reading it back from a real SQLite store."""

from __future__ import annotations

import dataclasses
import gzip
import time
from pathlib import Path

import numpy as np
import pytest
from builders import small_spec

from synprune.errors import DataError
from synprune.experiment.results import (
    PREDICTION_COLUMNS,
    TrialResult,
    decode_predictions,
    encode_predictions,
)
from synprune.tracking.reader import load_predictions, trial_rows
from synprune.tracking.records import predictions_csv_gz
from synprune.tracking.writer import Tracker, trial_record


def _payload(n: int = 3, h: int = 2, shift: float = 0.0) -> dict:
    target = np.arange(n * h, dtype=np.float64).reshape(n, h) + 100.25
    return encode_predictions(
        np.arange(n) + 40,
        target=target,
        prediction=target + 0.5 + shift,
        naive=np.repeat(target[:, :1] - 1, h, axis=1),
        snaive=target - 2,
        linear=target / 3,
    )


def _result(seed: int, payload: dict) -> TrialResult:
    return TrialResult(spec=small_spec(seed=seed, epochs=1), test_mae=0.5, naive_mae=1.0,
                       snaive_mae=2.0, linear_mae=0.7, smape=1.5, mase=0.25, season=24,
                       linear_alpha=0.01, predictions=payload)  # fmt: skip


def test_payload_round_trip_and_csv_layout() -> None:
    cols = decode_predictions(_payload())
    assert cols["window"].tolist() == [40, 40, 41, 41, 42, 42]
    assert cols["step"].tolist() == [1, 2, 1, 2, 1, 2]
    assert cols["prediction"].tolist() == pytest.approx([100.75 + i for i in range(6)])
    assert cols["naive"].tolist() == pytest.approx([99.25, 99.25, 101.25, 101.25, 103.25, 103.25])
    text = gzip.decompress(predictions_csv_gz(_payload())).decode().splitlines()
    assert text[0] == ",".join(PREDICTION_COLUMNS)
    assert text[1] == "40,1,100.25,100.75,99.25,98.25,33.41667"
    assert len(text) == 7
    with pytest.raises(ValueError, match=r"must all be \[N=2, H\]"):
        encode_predictions([1, 2], **{c: np.zeros((3, 1)) for c in PREDICTION_COLUMNS[2:]})


def test_artifact_round_trips_through_a_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    tr = Tracker(uri, "preds", spool=False)
    assert tr.write(trial_record(_result(0, _payload()))) == "written"
    assert tr.write(trial_record(_result(1, _payload(shift=1.0)))) == "written"
    assert tr.write(trial_record(_result(2, {}))) == "written"  # an old-style run: no artifact
    rows = {r["seed"]: r for r in trial_rows(uri, "preds")}
    assert rows["0"]["snaive_mae"] == 2.0 and rows["0"]["linear_mae"] == 0.7
    assert rows["0"]["mase"] == 0.25 and rows["0"]["season"] == 24
    ids = [rows[s]["run_id"] for s in ("1", "0", "2")]
    df = load_predictions(uri, ids)
    assert list(df.columns) == ["run_id", *PREDICTION_COLUMNS]
    assert df["run_id"].tolist() == [ids[0]] * 6 + [ids[1]] * 6  # in the order asked
    assert df.attrs["missing"] == [ids[2]]
    first = df[df["run_id"] == ids[1]]
    assert first["window"].tolist() == [40, 40, 41, 41, 42, 42]
    assert first["prediction"].tolist() == pytest.approx([100.75 + i for i in range(6)])
    shifted = df[df["run_id"] == ids[0]]["prediction"].to_numpy()
    assert shifted - first["prediction"].to_numpy() == pytest.approx(np.ones(6))
    with pytest.raises(DataError, match=r"no predictions\.csv\.gz"):
        load_predictions(uri, [ids[2]], missing="error")


def test_writing_the_artifact_costs_a_few_ms(tmp_path: Path) -> None:
    """A 700-window, 1-step test set (a study-sized trial): the artifact adds a few ms."""
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    tr = Tracker(uri, "cost", spool=False)
    big = _payload(700, 1)
    tr.write(trial_record(_result(9, big)))  # warm up the store and the client
    start = time.perf_counter()
    blob = predictions_csv_gz(big)
    encode = time.perf_counter() - start
    assert encode < 0.05 and len(blob) < 20_000
    timings = {}
    for name, payload in (("without", {}), ("with", big)):
        t0 = time.perf_counter()
        for seed in range(3):
            tr.write(trial_record(_result(seed + (10 if payload else 20), payload)))
        timings[name] = (time.perf_counter() - t0) / 3
    # a generous bound for a shared 2-core machine; measured ~5-10 ms per trial
    assert timings["with"] - timings["without"] < 0.1, timings


def test_failed_trials_carry_no_predictions() -> None:
    r = dataclasses.replace(_result(0, _payload()), status="failed", error="boom")
    assert trial_record(r).predictions == {}

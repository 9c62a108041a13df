"""Per-trial reference forecasts and scale-free errors (experiment.evaluate / trial) against
hand computations on a tiny series, and through a real trial."""

from __future__ import annotations

import numpy as np
import pytest

from synprune.datasets import SeriesData, load_dataset, prepare_windows
from synprune.experiment.evaluate import reference_metrics, references
from synprune.experiment.results import PREDICTION_COLUMNS, decode_predictions
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.trial import run_trial


def _tiny(valid: np.ndarray | None = None, filled: float | None = None) -> SeriesData:
    """y_t = t for t = 0..19 (one column); train [0, 10), val [10, 14), test [14, 20);
    ``filled``: the value a gap policy put in row 5."""
    y = np.arange(20, dtype=np.float32)[:, None]
    if filled is not None:
        y[5, 0] = filled
    return SeriesData("tiny", y, ("y",), None, (10, 14), "<test>", (), valid)


def test_snaive_linear_smape_mase_match_a_hand_computation() -> None:
    w = prepare_windows(_tiny(), seq_len=2, horizon=2)
    # test windows: first target rows r = 14..18, targets (r, r + 1)
    refs = references(w, season=3)
    assert refs.window.tolist() == [14, 15, 16, 17, 18]
    assert refs.target.tolist() == [[14, 15], [15, 16], [16, 17], [17, 18], [18, 19]]
    # seasonal naive, m = 3, origin r - 1: step 1 reads row r - 3, step 2 row r - 2
    assert refs.snaive.tolist() == [[11, 12], [12, 13], [13, 14], [14, 15], [15, 16]]
    # MASE scale: mean |y_t - y_{t-3}| over the training rows 0..9 = 3
    assert refs.scale == pytest.approx(3.0)
    forecast = refs.target + 1.5  # a model 1.5 too high everywhere
    m = reference_metrics(refs, forecast)
    assert m["snaive_mae"] == pytest.approx(3.0)  # every error is exactly 3
    # the series is exactly linear: ridge with the least penalty recovers it
    assert refs.linear_alpha == pytest.approx(1e-4)
    assert m["linear_mae"] == pytest.approx(0.0, abs=1e-3)
    assert m["mase"] == pytest.approx(1.5 / 3.0)
    ys = refs.target.ravel()
    # M4 sMAPE: mean of 200 |y - f| / (|y| + |f|) = 200 * 1.5 / (2 y + 1.5)
    assert m["smape"] == pytest.approx(float(np.mean(300.0 / (2 * ys + 1.5))))
    assert m["season"] == 3


def test_unobserved_rows_and_short_training_fall_back_as_documented() -> None:
    valid = np.ones(20, dtype=bool)
    valid[5] = False  # row 5 was not observed; a gap policy filled it with 100
    w = prepare_windows(_tiny(valid, filled=100.0), seq_len=2, horizon=2)
    # the lag-3 pairs (2, 5) and (5, 8) leave the scale; the 5 others are |3|
    assert references(w, 3).scale == pytest.approx(3.0)
    # counted as observed it would be (98 + 92 + 5 * 3) / 7
    w = prepare_windows(_tiny(None, filled=100.0), seq_len=2, horizon=2)
    assert references(w, 3).scale == pytest.approx(205 / 7)
    refs = references(prepare_windows(_tiny(), 2, 2), season=12)  # 12 > 10 training rows
    assert refs.scale == pytest.approx(1.0)  # season 1: |y_t - y_{t-1}| = 1
    assert any("MASE scale: season 12" in n for n in refs.notes)
    # the seasonal naive still uses season 12: step 1 of window r reads row r - 12
    assert refs.snaive[:, 0].tolist() == [2, 3, 4, 5, 6]
    # paper protocol: the MASE scale's in-sample rows are train + val [0, 14): season 12 fits
    paper = prepare_windows(_tiny(), 2, 2, protocol="paper")
    assert references(paper, season=12, protocol="paper").scale == pytest.approx(12.0)
    assert references(paper, season=12, protocol="paper").notes == ()


def test_trial_reports_references_and_stores_its_test_predictions() -> None:
    data = load_dataset("synthetic")
    spec = TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 8}),
        regularizer=ComponentSpec("none"),
        seq_len=12,
        horizon=2,
        train=TrainSpec(epochs=1),
    )
    res = run_trial(spec, data)
    y = data.values[:, 0].astype(np.float64)
    b = data.split[1]
    rows = np.arange(b, len(y) - 1)  # first target row of each test window
    steps = rows[:, None] + np.arange(2)
    sn = y[steps - 24]  # season 24 >= horizon: step h reads row r - 1 + h - 24
    assert res.season == 24
    assert res.snaive_mae == pytest.approx(float(np.abs(sn - y[steps]).mean()), rel=1e-9)
    cols = decode_predictions(res.predictions)
    assert tuple(cols) == PREDICTION_COLUMNS
    assert cols["window"].tolist() == np.repeat(rows, 2).tolist()
    assert cols["step"].tolist() == [1, 2] * len(rows)
    assert cols["target"] == pytest.approx(y[steps].ravel(), rel=1e-6)
    assert cols["naive"] == pytest.approx(np.repeat(y[rows - 1], 2), rel=1e-6)
    assert cols["snaive"] == pytest.approx(sn.ravel(), rel=1e-6)
    mae = float(np.abs(cols["prediction"] - cols["target"]).mean())
    assert mae == pytest.approx(res.test_mae, rel=1e-4)
    assert float(np.abs(cols["linear"] - cols["target"]).mean()) == pytest.approx(
        res.linear_mae, rel=1e-5
    )
    assert res.linear_mae < res.naive_mae  # the lead covariate makes ridge strong here
    # an explicit season overrides the dataset's
    other = run_trial(spec.with_overrides(["season=1"]), data)
    assert other.season == 1 and other.snaive_mae == pytest.approx(other.naive_mae, rel=1e-6)


def test_season_is_a_spec_field_set_per_dataset_in_configs(tmp_path) -> None:
    from synprune.config.loader import load_config
    from synprune.errors import ConfigError, FieldError

    spec = TrialSpec(dataset="synthetic", model="lstm", regularizer="none", seq_len=8)
    assert spec.season is None and "season" not in spec.to_dict()
    assert spec.with_overrides(["season=12"]).to_dict()["season"] == 12
    with pytest.raises(FieldError, match=r"season=0 is invalid; allowed: an integer in \[1"):
        spec.with_overrides(["season=0"])
    text = """
experiment = "s"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none"]
seq_len = [8]
seed = [0]
[datasets.synthetic]
season = {season}
"""
    path = tmp_path / "s.toml"
    path.write_text(text.format(season=168))
    assert [s.season for s in load_config(path).specs()] == [168]
    path.write_text(text.format(season="-1"))
    with pytest.raises(ConfigError, match=r"\[datasets.synthetic\].season=-1 is invalid"):
        load_config(path).specs()

"""``m4_hourly:Hk`` as a trial dataset on the real M4 Hourly files: its layout, the m4 protocol's
windows (test = the official 48 points, never seen by training, validation or the scaler),
the id checks, the deterministic series selection and the grid's ``series`` axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from synprune.config.loader import load_config
from synprune.datasets import check_dataset_name, load_dataset, prepare_windows
from synprune.datasets.m4 import M4_FILES, read_m4_series
from synprune.datasets.m4_series import M4_HOURLY_IDS, m4_series_data, select_series
from synprune.datasets.sources import SOURCES
from synprune.errors import ConfigError, FieldError
from synprune.experiment.spec import TrialSpec


def test_one_series_layout(m4_dir: Path) -> None:
    data = load_dataset("m4_hourly:H1", data_dir=m4_dir)
    train, test = read_m4_series("H1", data_dir=m4_dir)
    assert train.size == 700 and test.size == 48
    assert data.name == "m4_hourly:H1" and data.columns == ("H1",) and data.season == 24
    assert data.values.shape == (748, 1) and data.split == (652, 700)
    assert data.values[:700, 0].tolist() == train.tolist()
    assert data.values[700:, 0].tolist() == test.tolist()
    long = load_dataset("m4_hourly:H414", data_dir=m4_dir)
    assert long.values.shape == (1008, 1) and long.split == (912, 960)


def test_m4_windows_on_h1(m4_dir: Path) -> None:
    data = load_dataset("m4_hourly:H1", data_dir=m4_dir)
    train, test = read_m4_series("H1", data_dir=m4_dir)
    w = prepare_windows(data, 96, 48, "m4")
    # one test window: input = the last 96 training points, target = the 48 official points
    assert w.x_test.shape == (1, 96, 1) and w.y_test.shape == (1, 48)
    orig = w.x_test[0, :, 0].double() * w.target_std + w.target_mean
    torch.testing.assert_close(orig, torch.tensor(train[-96:]), rtol=1e-5, atol=1e-3)
    back = w.y_test[0].double() * w.target_std + w.target_mean
    torch.testing.assert_close(back, torch.tensor(test), rtol=1e-5, atol=1e-3)
    assert w.naive_test.tolist() == [[float(train[-1])] * 48]  # last training value repeated
    # one validation window: targets = the last 48 training points, input the 96 before
    val = w.y_val[0].double() * w.target_std + w.target_mean
    torch.testing.assert_close(val, torch.tensor(train[-48:]), rtol=1e-5, atol=1e-3)
    assert len(w.y_val) == 1 and len(w.y_train) == 652 - 96 - 48 + 1
    # scaler: training part without the validation points
    assert w.target_mean == pytest.approx(float(train[:652].astype(np.float32).mean()), rel=1e-6)
    assert w.target_std == pytest.approx(float(train[:652].astype(np.float32).std()), rel=1e-5)


def test_test_points_never_seen(m4_dir: Path) -> None:
    train, test = read_m4_series("H7", data_dir=m4_dir)
    base = prepare_windows(m4_series_data("m", "H7", train, test, 24, "<t>"), 168, 48, "m4")
    other = prepare_windows(
        m4_series_data("m", "H7", train, test * 3 + 1000, 24, "<t>"), 168, 48, "m4"
    )
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "naive_test", "naive_val"):
        assert torch.equal(getattr(base, name), getattr(other, name)), name
    assert (base.target_mean, base.target_std) == (other.target_mean, other.target_std)
    assert not torch.equal(base.y_test, other.y_test)


def test_ids_are_checked_without_reading_files() -> None:
    check_dataset_name("m4_hourly:H1")
    check_dataset_name("m4_hourly:H414")
    for bad in ("m4_hourly:H0", "m4_hourly:H415", "m4_hourly:h1", "m4_hourly:", "m4_hourly"):
        with pytest.raises(FieldError, match=r"m4_hourly:ID with an id H1\.\.H414 \(414 series\)"):
            check_dataset_name(bad)
    with pytest.raises(FieldError, match=r"m4_hourly:H1\.\.H414 \(one series\), or csv:PATH"):
        check_dataset_name("m5_hourly")
    with pytest.raises(FieldError, match="dataset='m4_hourly:H999'"):
        load_dataset("m4_hourly:H999")


def test_spec_defaults_to_m4_protocol() -> None:
    spec = TrialSpec(dataset="m4_hourly:H5", model="gru", regularizer="none", seq_len=168,
                     horizon=48)  # fmt: skip
    assert spec.protocol == "m4" and spec.to_dict()["dataset"] == "m4_hourly:H5"
    with pytest.raises(FieldError, match="horizon=24 is invalid; allowed: 48 under protocol m4"):
        TrialSpec(dataset="m4_hourly:H5", model="gru", regularizer="none", seq_len=96,
                  horizon=24)  # fmt: skip
    # other protocols remain possible on M4 data (leak_free: the same rows, any horizon)
    lf = TrialSpec(dataset="m4_hourly:H5", model="gru", regularizer="none", seq_len=96,
                   horizon=24, protocol="leak_free")  # fmt: skip
    assert lf.protocol == "leak_free"


def test_select_series() -> None:
    assert select_series("m4_hourly", "all") == [f"m4_hourly:{i}" for i in M4_HOURLY_IDS]
    s100 = select_series("m4_hourly", "sample:100")
    assert len(s100) == len(set(s100)) == 100 and s100 == select_series("m4_hourly", "sample:100")
    # documented rule: default_rng(seed).choice(414, n, replace=False), returned in file order
    idx = sorted(np.random.default_rng(0).choice(414, size=100, replace=False).tolist())
    assert s100 == [f"m4_hourly:H{i + 1}" for i in idx]
    assert select_series("m4_hourly", "sample:100:0") == s100
    assert select_series("m4_hourly", "sample:100:1") != s100
    assert select_series("m4_hourly", ["H9", "H2"]) == ["m4_hourly:H9", "m4_hourly:H2"]
    for bad, msg in (
        ("sample:0", "sample:N"), ("sample:415", "sample:N"), ("some", "allowed"),
        (["H1", "H1"], "listed twice"), (["H500"], "'H500' is not a series"), ([], "allowed"),
    ):  # fmt: skip
        with pytest.raises(ConfigError, match=msg):
            select_series("m4_hourly", bad)


_GRID = """
experiment = "m4"
[grid]
model = ["gru"]
dataset = {dataset}
regularizer = ["none", "dropout"]
seq_len = [96, 168]
horizon = [48]
{series}
{cut}
"""


def test_grid_series_axis(tmp_path: Path) -> None:
    path = tmp_path / "m4.toml"
    path.write_text(_GRID.format(dataset='["m4_hourly"]', series='series = "sample:3"', cut=""))
    specs = load_config(path).specs()
    chosen = select_series("m4_hourly", "sample:3")
    assert sorted({s.dataset for s in specs}) == sorted(chosen)
    assert len(specs) == 3 * 2 * 2 and {s.protocol for s in specs} == {"m4"}
    # a cut naming the collection matches every series of it
    cut = '[[grid.cut]]\nwhere = { dataset = "m4_hourly" }\nseq_len = [96]'
    path.write_text(_GRID.format(dataset='["m4_hourly"]', series='series = ["H3", "H4"]', cut=cut))
    specs = load_config(path).specs()
    assert {s.dataset for s in specs} == {"m4_hourly:H3", "m4_hourly:H4"}
    assert {s.seq_len for s in specs} == {96} and len(specs) == 4
    # one series named directly, beside an ordinary dataset (its protocol stays leak_free)
    path.write_text(_GRID.format(dataset='["m4_hourly:H2", "synthetic"]', series="", cut=""))
    protocols = {(s.dataset, s.protocol) for s in load_config(path).specs()}
    assert protocols == {("m4_hourly:H2", "m4"), ("synthetic", "leak_free")}
    for dataset, series, msg in (
        ('["m4_hourly"]', "", r"\[grid\].dataset 'm4_hourly' holds 414 series: choose them"),
        ('["synthetic"]', 'series = "all"', r"\[grid\].series='all' selects series, but no"),
        ('["m4_hourly"]', 'series = "sample:0"', r"m4.toml: \[grid\].series='sample:0' is inv"),
    ):
        path.write_text(_GRID.format(dataset=dataset, series=series, cut=""))
        with pytest.raises(ConfigError, match=msg):
            load_config(path)


def test_sources_name_the_m4_files() -> None:
    for name, part in (("m4_hourly", "train"), ("m4_hourly_test", "test")):
        src, raw = SOURCES[name], M4_FILES[("hourly", part)]
        assert (src.filename, src.url, src.sha256) == (raw.filename, raw.url, raw.sha256)
        assert not src.packaged
    assert SOURCES["m4_hourly"].url == (
        "https://raw.githubusercontent.com/Mcompetitions/M4-methods/master/Dataset/Train/"
        "Hourly-train.csv"
    )

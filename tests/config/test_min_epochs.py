"""A sweep's arms share one ``min_epochs`` (the equal stopping rule's floor): the epoch where
the latest-ending regularizer schedule of the grid ends, unless the config sets it; ``tune``
gets the same value for its own epochs. ``[train] weight_decay`` is refused with a pointer."""

from __future__ import annotations

from pathlib import Path

import pytest

from synprune.config.loader import load_config
from synprune.errors import ConfigError

GRID = """
experiment = "m"
[grid]
model = ["lstm"]
dataset = ["synthetic"]
regularizer = ["none", "dropout", "l1", "weight_decay", "synaptic"]
seq_len = [8]
seed = [0, 1]
regularizers.synaptic.end_frac = [0.5, 0.7]
{grid_extra}
[train]
epochs = 20
{train}
[models.lstm]
hidden_size = 8
"""


def load(tmp_path: Path, train: str = "", grid_extra: str = "") -> object:
    p = tmp_path / "x.toml"
    p.write_text(GRID.format(train=train, grid_extra=grid_extra))
    return load_config(p)


def test_every_arm_gets_the_latest_schedule_end(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    specs = cfg.specs()
    assert len(specs) == 2 * 6
    # synaptic end_frac 0.7 of 20 epochs ends latest: ceil(14.0) = 14 for every arm
    assert {s.train.min_epochs for s in specs} == {14}
    assert {s.train.stopping for s in specs} == {"equal"}
    assert cfg.grid_settle_fraction == 0.7
    # tune's base specs share it, for tune's own epochs
    base = cfg.spec_for(
        model="lstm", dataset="synthetic", regularizer="none", seq_len=8, horizon=1, seed=0
    )
    assert base.train.min_epochs == 14
    tune_train = type(cfg.train)(epochs=10)
    base10 = cfg.spec_for(
        model="lstm", dataset="synthetic", regularizer="dropout", seq_len=8, horizon=1, seed=0,
        train=tune_train,
    )  # fmt: skip
    assert base10.train.min_epochs == 7


def test_given_or_swept_min_epochs_is_kept(tmp_path: Path) -> None:
    cfg = load(tmp_path, train="min_epochs = 5\nstopping = 'fixed'")
    assert {(s.train.min_epochs, s.train.stopping) for s in cfg.specs()} == {(5, "fixed")}
    assert cfg.min_epochs_for(20) is None
    swept = load(tmp_path, grid_extra="train.min_epochs = [0, 3]")
    assert sorted({s.train.min_epochs for s in swept.specs()}) == [0, 3]


def test_each_epochs_value_gets_its_own(tmp_path: Path) -> None:
    cfg = load(tmp_path, grid_extra="train.epochs = [10, 20]")
    got = {(s.train.epochs, s.train.min_epochs) for s in cfg.specs()}
    assert got == {(10, 7), (20, 14)}


def test_paper_semantics_grid_starts_at_zero(tmp_path: Path) -> None:
    text = GRID.replace(
        '"synaptic"]', '"synaptic"]\nregularizers.synaptic.early_stop_during_schedule = true'
    ).replace("regularizers.synaptic.end_frac = [0.5, 0.7]", "")
    p = tmp_path / "x.toml"
    p.write_text(text.format(train="", grid_extra=""))
    assert {s.train.min_epochs for s in load_config(p).specs()} == {0}


@pytest.mark.parametrize(
    ("train", "match"),
    [
        ("weight_decay = 0.01", r"x\.toml: \[train\]\.weight_decay=0\.01 is invalid; allowed: "
         r"not a train field: .*--regularizer weight_decay"),
        ("min_epochs = 21", r"\[train\]\.min_epochs=21 is invalid; allowed: an integer in "
         r"\[0, epochs=20\]"),
        ("stopping = 'patience'", r"\[train\]\.stopping='patience' is invalid"),
    ],
)  # fmt: skip
def test_bad_train_keys_are_refused(tmp_path: Path, train: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load(tmp_path, train=train)

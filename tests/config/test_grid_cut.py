"""[[grid.cut]]: costly cells keep fewer windows / seeds; arms are never cut within a block."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from synprune.config.loader import load_config
from synprune.errors import ConfigError

BASE = """
experiment = "c"
[grid]
model = ["lstm", "rnn"]
dataset = ["synthetic"]
regularizer = ["none", "dropout"]
seq_len = [8, 12]
seed = [0, 1, 2]
regularizers.dropout.p = [0.1, 0.3]
[train]
epochs = 2
"""


def write(tmp_path: Path, cut: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(BASE + cut)
    return p


def test_cut_keeps_only_listed_windows_and_seeds_of_matching_cells(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[[grid.cut]]\nwhere = { model = "rnn" }\nseq_len = [12]\nseed = [0]\n')
    )
    specs = cfg.specs()
    lstm = [s for s in specs if s.model.name == "lstm"]
    rnn = [s for s in specs if s.model.name == "rnn"]
    assert len(lstm) == 2 * 3 * 3  # untouched: 2 windows x 3 seeds x 3 arms
    assert {(s.seq_len, s.seed) for s in rnn} == {(12, 0)}
    # every arm survives in the kept block: none, dropout[p=0.1], dropout[p=0.3]
    assert Counter(s.arm for s in rnn) == {"none": 1, "dropout[p=0.1]": 1, "dropout[p=0.3]": 1}


@pytest.mark.parametrize(
    ("cut", "needle"),
    [
        ("[[grid.cut]]\nseq_len = [12]\n", "where is required"),
        ('[[grid.cut]]\nwhere = { model = "gru" }\nseed = [0]\n', "where.model=['gru'] is not on"),
        ('[[grid.cut]]\nwhere = { model = "rnn" }\nseed = [7]\n', "seed=[7] is not on"),
        ('[[grid.cut]]\nwhere = { model = "rnn" }\nregularizer = ["none"]\n', "regularizer"),
        ('[[grid.cut]]\nwhere = { model = "rnn" }\n', "names no axis to cut"),
        ("[[grid.cut]]\nwhere = { seq_len = 8 }\nseq_len = [8]\n", "both matched"),
    ],
)
def test_bad_cuts_are_refused_naming_the_key(tmp_path: Path, cut: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, cut))
    msg = str(info.value)
    assert "[grid.cut][0]" in msg and needle in msg, msg

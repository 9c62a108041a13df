"""``synprune train``: composites with part overrides, --json tensor_sparsity and arm, the
collapse warning, --missing-value for csv datasets, one-line errors before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synprune.cli.main import main
from synprune.cli.train import collapse_warning

SMALL = ["--seq-len", "8", "--epochs", "2", "--quiet", "--json"]
TINY_LSTM = ["--set", "model.hidden_size=4", "--set", "model.num_layers=1"]


def train(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    rc = main(["train", *args])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if rc == 0 and "--json" in args else {}), out.err


def test_composite_with_part_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    rc, d, _ = train(
        capsys,
        *("--model", "lstm", "--dataset", "synthetic", "--regularizer", "synaptic+dropout"),
        *SMALL,
        *TINY_LSTM,
        *("--set", "regularizer.synaptic.final_sparsity=0.5"),
        *("--set", "regularizer.dropout.p=0.3"),
    )
    assert rc == 0 and d["status"] == "finished"
    params = d["spec"]["regularizer"]["params"]
    assert params["synaptic"]["final_sparsity"] == 0.5 and params["dropout"]["p"] == 0.3
    assert d["arm"] == "synaptic+dropout"
    ts = d["tensor_sparsity"]
    assert ts and all(0.0 <= v <= 1.0 for v in ts.values())
    assert "head.weight" in ts and "head.bias" not in ts  # prunable weights only
    assert abs(d["final_sparsity"] - 0.5) < 0.05


def test_collapsed_tensors_warn_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    rc, d, err = train(
        capsys,
        *("--model", "lstm", "--dataset", "synthetic", "--regularizer", "synaptic"),
        *SMALL,
        *TINY_LSTM,
        *("--set", "regularizer.final_sparsity=0.995"),
    )
    assert rc == 0
    collapsed = sorted(n for n, v in d["tensor_sparsity"].items() if v >= 0.99)
    assert collapsed and all(n in err for n in collapsed)
    assert "pruned beyond 99%" in err
    assert collapse_warning({"a.weight": 0.5}) == ""


def test_missing_value_reaches_the_csv_loader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    y = np.sin(np.arange(300) / 10.0)
    y[40] = -200.0
    csv = tmp_path / "s.csv"
    csv.write_text("y\n" + "\n".join(f"{v:.6f}" for v in y) + "\n")
    base = ["--model", "rnn", "--dataset", f"csv:{csv}", "--target", "y", "--regularizer", "none"]
    rc, d, _ = train(capsys, *base, *SMALL, "--missing-value", "-200")
    assert rc == 0 and d["spec"]["missing_value"] == -200.0
    assert any("-200" in n for n in d["notes"])  # the loader treated the code as missing
    rc, plain, _ = train(capsys, *base, *SMALL)
    assert rc == 0 and "missing_value" not in plain["spec"]
    assert not any("-200" in n for n in plain["notes"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [
                "--regularizer",
                "synaptic+dropout",
                "--set",
                "regularizer.synaptic.final_sparsity=1.2",
            ],
            "regularizer.synaptic.final_sparsity=1.2 is invalid; allowed: a number in [0, 1)",
        ),
        (["--regularizer", "synaptic+l2"], "regularizer='synaptic+l2' is invalid"),
        (["--regularizer", "none", "--set", "train.batch_size=0"], "train.batch_size=0"),
        (["--regularizer", "none", "--missing-value", "nan"], "missing_value=nan is invalid"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    rc = main(["train", "--model", "lstm", "--dataset", "synthetic", "--seq-len", "8", *args])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err

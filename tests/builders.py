"""Small builders of test inputs shared by several test folders.

Imported as ``from builders import ...``: pytest puts ``tests/`` on ``sys.path`` when it loads
``tests/conftest.py`` (the default ``prepend`` import mode; ``tests/`` is not a package).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from synprune.experiment.results import TrialResult
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec


def small_spec(
    model: str = "lstm",
    regularizer: str | ComponentSpec = "none",
    *,
    seed: int = 0,
    epochs: int = 2,
    **fields: Any,
) -> TrialSpec:
    """A quick trial on ``synthetic``: ``model`` with hidden size 4, ``seq_len`` 8, ``epochs``
    epochs; ``fields`` are further ``TrialSpec`` fields (``swept``, ...)."""
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec(model, {"hidden_size": 4}),
        regularizer=ComponentSpec(regularizer) if isinstance(regularizer, str) else regularizer,
        seq_len=8,
        seed=seed,
        train=TrainSpec(epochs=epochs),
        **fields,
    )


def finished_result(spec: TrialSpec, **fields: Any) -> TrialResult:
    """A finished trial of ``spec`` that ran all its epochs, the last one best: test MAE 0.5
    (RMSE 0.6, MSE 0.36) against the naive 0.8 (RMSE 0.9), validation loss 0.45, no sparsity,
    2 s per epoch. ``fields`` replace any of these or set other ``TrialResult`` fields."""
    epochs = spec.train.epochs
    values: dict[str, Any] = {
        "test_mae": 0.5,
        "test_rmse": 0.6,
        "test_mse": 0.36,
        "naive_mae": 0.8,
        "naive_rmse": 0.9,
        "val_loss": 0.45,
        "epochs_run": epochs,
        "best_epoch": epochs,
        "final_sparsity": 0.0,
        "train_seconds": 2.0 * epochs,
    }
    return TrialResult(spec=spec, **{**values, **fields})


def train_argv(dataset: str, regularizer: str, seq_len: int, *extra: str) -> list[str]:
    """``synprune train`` of an LSTM (argv for ``synprune.cli.main.main``); ``extra`` follow."""
    return [
        "train",
        "--model",
        "lstm",
        "--dataset",
        dataset,
        "--regularizer",
        regularizer,
        "--seq-len",
        str(seq_len),
        *extra,
    ]


def store_reader_argv(verb: str, uri: str, folder: Path, experiment: str) -> list[str]:
    """argv of ``stats``, ``export`` or ``ui`` on the store at ``uri``; ``stats`` and ``export``
    also name ``experiment`` and an ``--out`` in ``folder`` (``r`` / ``t.csv``)."""
    argv = [verb, "--tracking-uri", uri]
    if verb != "ui":
        argv += [
            "--experiment",
            experiment,
            "--out",
            str(folder / ("r" if verb == "stats" else "t.csv")),
        ]
    return argv


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

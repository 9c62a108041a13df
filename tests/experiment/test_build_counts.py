"""Each component is built once per trial (issue 20.6): the regularizer once, the model once for
real (its memory check counts parameters on the meta device once per architecture and
process), the pruning schedule validated at construction and never again per step; loading a
config builds each distinct regularizer configuration once, not once per spec or per use.

Counted by wrapping the real constructors (nothing is replaced: every call still runs)."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import synprune.experiment.resolve as resolve_module
import synprune.models.sizing as sizing
import synprune.regularizers.synaptic as synaptic
import synprune.regularizers.synaptic_regularizer as synaptic_regularizer
from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
from synprune.experiment.trial import run_trial
from synprune.models.rnn import RecurrentForecaster
from synprune.regularizers import SynapticPruning, SynapticRegularizer

Counts = collections.Counter[str]


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    seen: Counts = collections.Counter()

    def counting(cls: type, key: str) -> None:
        original = cls.__init__

        def init(self: object, *args: object, **kwargs: object) -> None:
            seen[key] += 1
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)

    counting(SynapticRegularizer, "SynapticRegularizer")
    counting(SynapticPruning, "SynapticPruning")
    original_model_init = RecurrentForecaster.__init__

    def model_init(self: RecurrentForecaster, *args: object, **kwargs: object) -> None:
        on_meta = torch.get_default_device().type == "meta"
        seen["model (meta)" if on_meta else "model"] += 1
        original_model_init(self, *args, **kwargs)

    monkeypatch.setattr(RecurrentForecaster, "__init__", model_init)
    for module in (synaptic, synaptic_regularizer):
        validate = module.validate_schedule

        def counted(*args: object, _f: object = validate, **kwargs: object) -> object:
            seen["validate_schedule"] += 1
            return _f(*args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(module, "validate_schedule", counted)
    monkeypatch.setattr(sizing, "_COUNTS", {})  # a fresh process: nothing sized yet
    yield seen


def _spec(epochs: int, seed: int = 0) -> TrialSpec:
    return TrialSpec(
        dataset="synthetic",
        model=ComponentSpec("lstm", {"hidden_size": 8, "num_layers": 1}),
        regularizer=ComponentSpec("synaptic", {"final_sparsity": 0.5, "prune_every": 2}),
        seq_len=8,
        seed=seed,
        train=TrainSpec(epochs=epochs, batch_size=64, patience=100, stopping="fixed"),
    )


@pytest.mark.parametrize("epochs", [2, 6])
def test_a_trial_builds_its_regularizer_and_model_once_whatever_its_length(
    counts: Counts, epochs: int
) -> None:
    spec = _spec(epochs)
    counts.clear()  # building the spec resolved (and remembered) its components
    result = run_trial(spec)
    assert result.status == "finished", result.error
    assert result.epochs_run == epochs
    assert counts["SynapticRegularizer"] == 1
    assert counts["SynapticPruning"] == 1
    assert counts["model"] == 1
    assert counts["model (meta)"] <= 1  # the memory check, once per architecture and process
    # at construction (the regularizer's own check + the pruner's), not once per step
    assert counts["validate_schedule"] == 2


def test_a_second_trial_of_the_same_architecture_is_not_sized_again(counts: Counts) -> None:
    run_trial(_spec(2, seed=0))
    counts.clear()
    run_trial(_spec(2, seed=1))
    assert counts["model (meta)"] == 0 and counts["model"] == 1


def _load(tmp_path: Path, seeds: int) -> list[TrialSpec]:
    from synprune.config.loader import load_config

    cfg_path = tmp_path / f"seeds{seeds}.toml"
    cfg_path.write_text(
        'experiment = "eight"\n'
        "[grid]\n"
        'model = ["lstm"]\ndataset = ["synthetic"]\nregularizer = ["synaptic", "none"]\n'
        f"seq_len = [8, 12]\nhorizon = [1]\nseed = {list(range(seeds))}\n"
        "[train]\nepochs = 4\n"
        "[models.lstm]\nhidden_size = 8\nnum_layers = 1\n"
        "[regularizers.synaptic]\nfinal_sparsity = 0.37\n"
        "[tuning]\nseq_len = 8\n"  # validated too: a grid seq_len keeps the count at 2
    )
    return load_config(cfg_path).specs()


@pytest.mark.parametrize("seeds", [1, 4])
def test_loading_a_config_builds_each_regularizer_configuration_once(
    counts: Counts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeds: int
) -> None:
    monkeypatch.setattr(resolve_module, "_DESCRIBED", {})  # nothing resolved yet
    monkeypatch.setattr(resolve_module, "_ARCHS", {})
    specs = _load(tmp_path, seeds)
    assert sum(s.regularizer.name == "synaptic" for s in specs) == 2 * seeds
    # whatever the number of specs: the grid's one synaptic configuration and the two corners
    # of the default [tuning] space the loader validates
    assert counts["SynapticRegularizer"] == 3
    assert counts["SynapticPruning"] == 0  # nothing is pruned at load
    assert counts["model"] == 0  # architectures are resolved on the meta device only
    assert counts["model (meta)"] == 2  # one per distinct (architecture, seq_len)

"""README as a user reads it (issue 20.1, 20.4): the "load a trained model" snippet runs as
written against a real store, and the command table lists every option of every verb."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet() -> str:
    text = README.read_text()
    start = text.index("Load one back and predict:\n```python\n") + len(
        "Load one back and predict:\n```python\n"
    )
    return text[start : text.index("```\n", start)]


@pytest.mark.slow  # ~30 s on 2 loaded cores: 2 trials, their pt2 export, a fresh interpreter
def test_load_a_trained_model_snippet_runs_as_written(tmp_path: Path) -> None:
    """A real store written by the real writer from real trials (aapl, lstm, synaptic, seeds
    0 and 1: two models the filter must tell apart by seed) in ./synprune-runs, experiment
    'smoke', as the snippet expects; the snippet runs unchanged in a fresh interpreter and
    its forecast is finite, one per test window, and the same on a second call (eval mode:
    no dropout, no randomness)."""
    from synprune.experiment.spec import ComponentSpec, TrainSpec, TrialSpec
    from synprune.experiment.trial import load_series, run_trial
    from synprune.tracking.writer import Tracker, trial_record

    uri = f"sqlite:///{tmp_path / 'synprune-runs' / 'mlflow.db'}"
    tracker = Tracker(uri, "smoke", spool=False)
    parent = tracker.start_parent("sweep-1", None, {}, {})
    for seed in (0, 1):
        spec = TrialSpec(
            dataset="aapl", model=ComponentSpec("lstm", {"hidden_size": 4}),
            regularizer=ComponentSpec("synaptic"), seq_len=14, seed=seed,
            train=TrainSpec(epochs=1),
        )  # fmt: skip
        assert tracker.write(trial_record(run_trial(spec, load_series(spec)), parent)) == "written"
    check = (
        "\nimport math\n"
        "assert m.tags['seed'] == '0' and m.tags['seq_len'] == '14' and m.tags['horizon'] == '1'\n"
        "assert y.shape == (len(w.x_test), 1) and bool(torch.isfinite(y).all())\n"
        "with torch.no_grad():\n"
        "    assert torch.equal(y, model(w.x_test) * meta['target_std'] + meta['target_mean'])\n"
        "print('OK', m.tags['spec_id'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", _snippet() + check],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("OK ")


VERBS = ["train", "sweep", "tune", "stats", "export", "ui", "datasets", "reference", "demo"]


def _parsers(verb: str) -> list[argparse.ArgumentParser]:
    """The verb's parser and any nested ones (``datasets list|fetch|check``)."""
    from synprune.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    out = [sub.choices[verb]]  # type: ignore[attr-defined]
    for p in out:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                out += list(a.choices.values())
    return out


def _actions(verb: str) -> list[tuple[argparse.ArgumentParser, argparse.Action]]:
    return [
        (p, a)
        for p in _parsers(verb)
        for a in p._actions
        if a.option_strings and a.option_strings[-1] != "--help"
    ]


@pytest.mark.parametrize("verb", VERBS)
def test_the_command_table_lists_every_option(verb: str) -> None:
    text = README.read_text()
    table = text[text.index("## Commands") :]
    table = table[: table.index("\n## ")]
    rows = [r for r in table.splitlines() if r.startswith(f"| `synprune {verb}")]
    assert rows, f"no row for `synprune {verb}` in README's command table"
    listed = set(re.findall(r"--[a-z][a-z0-9-]*", " ".join(rows)))
    missing = sorted({a.option_strings[-1] for _, a in _actions(verb)} - listed)
    assert not missing, f"README's row for `synprune {verb}` lacks {missing}"


@pytest.mark.parametrize("verb", VERBS)
def test_every_help_option_shows_its_default(verb: str) -> None:
    """Each option that takes a value says its default in --help (``(default: none)`` when it
    has none); flags are off by default, and an option of a required either-or group
    (``--experiment | --from-csv``) has none to show."""
    lacking = []
    for p, a in _actions(verb):
        text = p._get_formatter()._expand_help(a) if a.help else ""
        either_or = any(a in g._group_actions for g in p._mutually_exclusive_groups if g.required)
        if a.nargs != 0 and not a.required and not either_or and "default" not in text:
            lacking.append(a.option_strings[-1])
    assert not lacking, f"`synprune {verb} --help` shows no default for {lacking}"
    if verb == "train":
        helps = {
            a.option_strings[-1]: p._get_formatter()._expand_help(a) for p, a in _actions(verb)
        }
        assert helps["--target"].endswith("(default: none)")
        assert helps["--horizon"] == "steps forecast (default 1)"  # its own words, once


def test_placeholders_are_named_the_same_across_verbs() -> None:
    seen: dict[str, dict[str, str]] = {}
    for verb in VERBS:
        for _, a in _actions(verb):
            if a.nargs != 0 and not a.choices:
                seen.setdefault(a.option_strings[-1], {})[verb] = str(a.metavar)
    shared = {opt: by for opt, by in seen.items() if len(set(by.values())) > 1}
    shared.pop("--out", None)  # stats writes a folder (DIR), export a file (FILE)
    assert not shared, f"one option, several placeholders: {shared}"
    assert seen["--tracking-uri"] == dict.fromkeys(
        ["sweep", "tune", "stats", "export", "ui"], "URI"
    )
    assert seen["--out"] == {"stats": "DIR", "export": "FILE"}


def test_the_readme_names_every_shipped_config() -> None:
    configs = sorted(p.name for p in (README.parent / "configs").glob("*.toml"))
    text = README.read_text()
    assert [c for c in configs if f"configs/{c}" not in text] == []


def test_train_help_names_every_built_in_model_and_regularizer() -> None:
    """``train --help`` lists the built-ins without importing torch; they must stay the
    registries' names (a regularizer added without touching the help fails here)."""
    from synprune.cli.train import BUILTIN_MODELS, BUILTIN_REGULARIZERS
    from synprune.models import get_model_factory, list_models
    from synprune.regularizers import REGULARIZERS, list_regularizers

    def ours(factory: object) -> bool:  # other tests may register plugins of their own
        return str(getattr(factory, "__module__", "")).startswith("synprune.")

    assert sorted(BUILTIN_MODELS) == sorted(n for n in list_models() if ours(get_model_factory(n)))
    regs = [n for n in list_regularizers() if ours(REGULARIZERS.get(n))]
    assert sorted(BUILTIN_REGULARIZERS) == sorted(regs)

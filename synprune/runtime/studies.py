"""The Optuna side of ``synprune tune``: search spaces, RDB storage, and what a study holds.

Each (cell, arm) is one Optuna study in RDB storage (``[tuning].storage``, SQLite by default);
``OptunaSearch(study_name=, storage=)`` loads it if it exists. Trials an interrupted invocation
left RUNNING are marked FAIL (user attr ``interrupted``) and do not count towards the budget.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from synprune.config.tuning import Dim
from synprune.errors import ConfigError


def to_reg_params(sampled: dict[str, Any]) -> dict[str, Any]:
    """Sampled values -> regularizer params (``end_gap`` becomes ``end_frac``)."""
    params = dict(sampled)
    if "end_gap" in params:
        start = float(params.get("start_frac", 0.0))
        params["end_frac"] = min(1.0, start + float(params.pop("end_gap")) * (1.0 - start))
    return params


class SearchSpace:
    """Define-by-run space for ``OptunaSearch`` over ``dims`` (a picklable callable: Tune
    pickles the searcher into its experiment state)."""

    def __init__(self, dims: dict[str, Dim]) -> None:
        self.dims = dict(dims)

    def __call__(self, trial: optuna.Trial) -> None:
        for name, d in self.dims.items():
            if d.kind == "categorical":
                trial.suggest_categorical(name, list(d.choices))
            elif d.kind == "int":
                trial.suggest_int(name, int(d.low), int(d.high), log=d.log)
            else:
                trial.suggest_float(name, d.low, d.high, log=d.log)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at ``url`` (a SQLite folder is created); one ``ConfigError``
    line when it cannot be opened."""
    if url.startswith("sqlite:///"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
        )
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise ConfigError(f"[tuning].storage {url}: cannot open it ({text})") from None


def _study_id(storage: optuna.storages.BaseStorage, study: str) -> int | None:
    try:
        return storage.get_study_id_from_name(study)
    except KeyError:
        return None


def retire_interrupted(storage: optuna.storages.BaseStorage, study: str) -> None:
    """Mark trials an interrupted invocation left RUNNING as FAIL (``interrupted``)."""
    sid = _study_id(storage, study)
    if sid is None:
        return
    for t in storage.get_all_trials(sid, deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


def ended_trials(storage: optuna.storages.BaseStorage, study: str) -> list[FrozenTrial]:
    """Trials that count towards the budget (ended, not interrupted)."""
    sid = _study_id(storage, study)
    if sid is None:
        return []
    return [
        t
        for t in storage.get_all_trials(sid, deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get("interrupted")
    ]


def sampler_seed(study: str, n_before: int) -> int:
    """Depends on the study name and its trial count, so a resumed study does not replay its
    random start-up points."""
    return int(hashlib.sha256(f"{study}#{n_before}".encode()).hexdigest()[:8], 16)


def best_trial(storage: optuna.storages.BaseStorage, study: str) -> FrozenTrial | None:
    done = [t for t in ended_trials(storage, study) if t.state == TrialState.COMPLETE]
    return min(done, key=lambda t: float(t.value or 0.0)) if done else None

"""The sweep driver's record of ended Tune trials: each finished or failed spec becomes one
MLflow run (through the one ``Tracker``) and one console event; trials lost with their Ray
actor or node are set aside for another Tuner pass instead.

``SweepCallback`` is the Tune callback; it holds only the key of its ``Recorder`` (registered
with :func:`recording`), so it pickles into Tune's experiment state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ray import tune

from synprune.experiment.results import TrialResult
from synprune.runtime.console import Console, describe
from synprune.runtime.executor import results_from_payload
from synprune.runtime.trial_errors import first_line, lost_with_node, trial_error_text

if TYPE_CHECKING:
    from synprune.tracking.writer import Tracker

_RECORDERS: dict[str, Recorder] = {}


@dataclass
class Recorder:
    """Writes each ended Tune trial's runs and tells the console (driver side, serial)."""

    tracker: Tracker
    parent_run_id: str
    console: Console
    rerun_limit: int  # extra Tuner passes a group lost with its node may get
    finished: int = 0
    failed: int = 0
    spooled: int = 0
    lost: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> group, to rerun
    reruns: dict[str, int] = field(default_factory=dict)
    prior_attempts: dict[str, int] = field(default_factory=dict)  # attempts in earlier passes
    started: dict[str, float] = field(default_factory=dict)  # trial id -> monotonic start

    def start(self, trial: Any) -> None:
        self.started.setdefault(trial.trial_id, time.monotonic())

    def _elapsed(self, trial: Any) -> float | None:
        t0 = self.started.pop(trial.trial_id, None)
        return None if t0 is None else time.monotonic() - t0

    def _write(self, result: TrialResult, attempts: int) -> str:
        from synprune.tracking.writer import trial_record

        outcome = self.tracker.write(trial_record(result, self.parent_run_id, attempts))
        if outcome == "spooled":
            self.spooled += 1
            return " (tracking store unreachable: spooled)"
        return " (already recorded: not written twice)" if outcome == "duplicate" else ""

    def complete(self, trial: Any) -> None:
        group = trial.config["group"]
        last = trial.last_result or {}
        if "results" not in last:
            return self.error(trial, "the trial returned without reporting its results")
        self.console.unit_done(self._elapsed(trial), group["specs"][0])
        attempts = trial.num_failures + 1 + self.prior_attempts.get(_key(group), 0)
        for result in results_from_payload(last["results"]):
            note = self._write(result, attempts)
            self.finished += 1
            ratio = result.test_mae / result.naive_mae if result.naive_mae else math.nan
            self.console.trial(
                result.spec,
                True,
                f"finished mae={result.test_mae:.4g} naive={result.naive_mae:.4g} "
                f"ratio={ratio:.3f} sparsity={result.final_sparsity:.2f} "
                f"{result.train_seconds:.1f}s{note}",
            )

    def error(self, trial: Any, text: str | None = None) -> None:
        group = trial.config["group"]
        key = _key(group)
        err = text or trial_error_text(trial)
        attempts = max(1, trial.num_failures) + self.prior_attempts.get(key, 0)
        if text is None and lost_with_node(err) and self.reruns.get(key, 0) < self.rerun_limit:
            self.lost[key] = group  # not recorded: it runs again in a fresh Tuner pass
            self.reruns[key] = self.reruns.get(key, 0) + 1
            self.prior_attempts[key] = attempts
            self.console.note(
                f"{describe(group['specs'][0])} lost with its Ray actor/node after {attempts} "
                f"attempt(s) ({first_line(err)}); it runs again after this pass"
            )
            return
        self.console.unit_done(self._elapsed(trial), group["specs"][0])
        for spec_id, spec in zip(group["ids"], group["specs"], strict=True):
            note = self._write(TrialResult.failed(spec, spec_id, err), attempts)
            self.failed += 1
            self.console.trial(
                spec, False, f"FAILED after {attempts} attempt(s): {first_line(err)}{note}"
            )

    def recover(self, trial: Any) -> None:
        self.console.note(
            f"{describe(trial.config['group']['specs'][0])} attempt {trial.num_failures} failed "
            f"({first_line(trial_error_text(trial))}); retrying"
        )


def _key(group: Mapping[str, Any]) -> str:
    return ",".join(group["ids"])


class SweepCallback(tune.Callback):
    """Stateless proxy to the driver's ``Recorder`` (safe to pickle into Tune's state). A
    tracking error never escapes into Tune (it would stop the whole sweep): the trial is
    reported as not recorded and the next ``synprune sweep`` runs it again."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _call(self, method: str, trial: Any) -> None:
        recorder = _RECORDERS.get(self.key)
        if recorder is None:
            return
        try:
            getattr(recorder, method)(trial)
        except Exception as exc:
            recorder.console.note(
                f"error: could not record trial {trial.trial_id} ({type(exc).__name__}: "
                f"{exc}); it runs again on the next `synprune sweep`"
            )

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._call("start", trial)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._call("complete", trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._call("error", trial)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._call("recover", trial)


@contextmanager
def recording(key: str, recorder: Recorder) -> Iterator[Recorder]:
    """Make ``recorder`` the target of ``SweepCallback(key)`` for the block."""
    _RECORDERS[key] = recorder
    try:
        yield recorder
    finally:
        _RECORDERS.pop(key, None)

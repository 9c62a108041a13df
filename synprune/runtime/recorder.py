"""The sweep driver's record of Tune trials: each finished or failed spec becomes one MLflow
run (through the driver's :class:`~synprune.runtime.write_queue.WriteQueue`) and one console
event; trials lost with their Ray actor or node are set aside for another Tuner pass instead.

A Tune trial runs a *batch* of training groups (``runtime.sweep``) and reports each group as it
ends: ``{"group": i, "attempts": n, "seconds": s}`` plus ``"results"`` (the JSON payload of its
specs' results) or ``"error"`` (the traceback of its last in-process attempt). Each group is
recorded when its report arrives (:meth:`Recorder.result`), so a batch stopped by Ctrl-C, a
lost node or a later group's failure keeps its finished groups. A group is recorded at most once
per sweep: a batch Tune restarts after a crash runs its groups again and the repeats are
dropped. When a batch fails as a whole (Tune's retries spent), the groups it had not reported
run again in a fresh Tuner pass if the failure lost the actor or node (at most ``rerun_limit``
extra passes per group), else they are recorded ``failed`` with the trial's error text.

``SweepCallback`` is the Tune callback; it holds only the key of its ``Recorder`` (registered
with :func:`recording`), so it pickles into Tune's experiment state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ray import tune

from synprune.experiment.results import TrialResult
from synprune.experiment.spec import TrialSpec
from synprune.runtime.console import Console, describe
from synprune.runtime.executor import results_from_payload
from synprune.runtime.trial_errors import first_line, lost_with_node, trial_error_text

if TYPE_CHECKING:
    from synprune.runtime.write_queue import WriteQueue

_RECORDERS: dict[str, Recorder] = {}

Group = Mapping[str, Any]  # {"ids": [spec_id, ...], "specs": [spec dict, ...]}


def group_key(group: Group) -> str:
    return ",".join(group["ids"])


@dataclass
class Recorder:
    """Records each reported group and tells the console (driver side, Tune's thread)."""

    writer: WriteQueue
    parent_run_id: str
    console: Console
    rerun_limit: int  # extra Tuner passes a group lost with its node may get
    specs: Mapping[str, TrialSpec]  # the sweep's specs by spec_id (groups carry only dicts)
    finished: int = 0
    failed: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)  # groups to run in a new pass
    recorded: set[str] = field(default_factory=set)  # group keys recorded in this sweep
    crashes: dict[str, int] = field(default_factory=dict)  # group key -> failed trial attempts
    reruns: dict[str, int] = field(default_factory=dict)  # group key -> extra passes given

    # -- Tune events -------------------------------------------------------------------------------
    def result(self, trial: Any, result: dict[str, Any]) -> None:
        """A group's report: record it (once) and drop its payload from Tune's copy."""
        if "group" not in result:
            return
        payload, error = result.pop("results", None), result.pop("error", None)
        group = trial.config["batch"]["groups"][int(result["group"])]
        key = group_key(group)
        if key in self.recorded:
            return
        self.recorded.add(key)
        self.console.unit_done(result.get("seconds"), self._first(group))
        attempts = int(result.get("attempts", 1)) + self.crashes.get(key, 0)
        if payload is None:
            self._failed(group, str(error or "the group reported no results"), attempts)
            return
        for res in results_from_payload(payload):
            self._write(res, attempts)
            self.finished += 1
            ratio = res.test_mae / res.naive_mae if res.naive_mae else math.nan
            self.console.trial(
                res.spec,
                True,
                f"finished mae={res.test_mae:.4g} naive={res.naive_mae:.4g} "
                f"ratio={ratio:.3f} sparsity={res.final_sparsity:.2f} "
                f"{res.train_seconds:.1f}s",
            )
        self._notes()

    def complete(self, trial: Any) -> None:
        left = self._unrecorded(trial)
        for group in left:
            self._failed(group, "the trial returned without reporting its results", 1)

    def error(self, trial: Any) -> None:
        err = trial_error_text(trial)
        left = self._unrecorded(trial)
        if left:
            self._crashed(left[0])
        if lost_with_node(err) and all(
            self.reruns.get(group_key(g), 0) < self.rerun_limit for g in left
        ):
            for group in left:  # not recorded: they run again in a fresh Tuner pass
                self.reruns[group_key(group)] = self.reruns.get(group_key(group), 0) + 1
                self.lost.append(dict(group))
            if left:
                self.console.note(
                    f"{describe(self._first(left[0]))} lost with its Ray actor/node after "
                    f"{self.crashes.get(group_key(left[0]), 1)} attempt(s) ({first_line(err)}); "
                    f"it runs again after this pass"
                    + (f" with {len(left) - 1} more trial group(s)" if len(left) > 1 else "")
                )
            return
        for group in left:
            self.console.unit_done(None, self._first(group))
            self._failed(group, err, max(1, self.crashes.get(group_key(group), 1)))

    def recover(self, trial: Any) -> None:
        left = self._unrecorded(trial)
        if left:
            self._crashed(left[0])
        what = describe(self._first(left[0])) if left else f"trial {trial.trial_id}"
        self.console.note(
            f"{what} attempt {trial.num_failures} failed "
            f"({first_line(trial_error_text(trial))}); retrying"
        )

    # -- helpers -----------------------------------------------------------------------------------
    def _unrecorded(self, trial: Any) -> list[Group]:
        return [g for g in trial.config["batch"]["groups"] if group_key(g) not in self.recorded]

    def _first(self, group: Group) -> TrialSpec:
        return self.specs[group["ids"][0]]

    def _crashed(self, group: Group) -> None:
        """The batch failed while ``group`` (its first unreported one) was running."""
        key = group_key(group)
        self.crashes[key] = self.crashes.get(key, 0) + 1

    def _failed(self, group: Group, err: str, attempts: int) -> None:
        self.recorded.add(group_key(group))
        for spec_id in group["ids"]:
            spec = self.specs[spec_id]
            self._write(TrialResult.failed(spec, err), attempts)
            self.failed += 1
            self.console.trial(
                spec, False, f"FAILED after {attempts} attempt(s): {first_line(err)}"
            )
        self._notes()

    def _write(self, result: TrialResult, attempts: int) -> None:
        from synprune.tracking.writer import trial_record

        self.writer.put(trial_record(result, self.parent_run_id, attempts))

    def _notes(self) -> None:
        for text in self.writer.take_notes():
            self.console.note(text)


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

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        recorder = _RECORDERS.get(self.key)
        if recorder is None:
            return
        try:
            recorder.result(trial, result)
        except Exception as exc:
            recorder.console.note(
                f"error: could not record a result of trial {trial.trial_id} "
                f"({type(exc).__name__}: {exc}); it runs again on the next `synprune sweep`"
            )

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

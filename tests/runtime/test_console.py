"""The sweep's console (ETA, bar vs lines, plain text) and how failed trials are read, on real
Ray exception texts; no Ray runtime is started."""

from __future__ import annotations

import io

import pytest

from synprune.experiment.spec import TrialSpec
from synprune.runtime.console import Console, Eta, cell_key, fmt_seconds
from synprune.runtime.trial_errors import first_line, last_failure, lost_with_node, plain_text

SPEC = TrialSpec.from_dict(
    {
        "dataset": "synthetic",
        "model": {"name": "lstm", "params": {}},
        "regularizer": {"name": "dropout", "params": {"p": 0.3}},
        "seq_len": 8,
        "horizon": 1,
        "seed": 0,
    }
)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _spec(model: str, dataset: str, reg: str = "none", seq_len: int = 7) -> TrialSpec:
    return TrialSpec(dataset=dataset, model=model, regularizer=reg, seq_len=seq_len)


def test_eta_with_one_kind_of_trial_is_the_mean_duration_spread_over_the_slots() -> None:
    k = ("", "")
    eta = Eta([k] * 6, slots=2)
    assert eta.seconds() is None  # nothing known yet
    eta.done(k, 10.0)
    assert eta.seconds() == 25.0  # 5 left x 10 s / 2 slots
    eta.done(k, 30.0)
    assert eta.seconds() == 40.0  # 4 x 20 / 2
    for _ in range(3):
        eta.done(k, 20.0)
    assert eta.seconds() == 20.0  # one left: never less than one unit
    eta.done(k, 20.0)
    assert eta.seconds() == 0.0
    assert [fmt_seconds(s) for s in (None, 42.4, 185, 7620)] == ["?", "42s", "3m05s", "2h07m"]


def test_eta_costs_each_cell_by_its_own_trials_not_the_first_ones_seen() -> None:
    """A study starting with a slow cell: the old single mean said 6 h where ~1 h was left."""
    slow, fast = cell_key(_spec("patchtst", "air_quality")), cell_key(_spec("rnn", "bitcoin"))
    slow_syn = cell_key(_spec("patchtst", "air_quality", "synaptic"))
    assert slow == ("patchtst air_quality L=7 H=1", "none")
    eta = Eta([slow, slow_syn, slow_syn] + [fast] * 100, slots=2)
    eta.done(slow, 200.0)
    # unseen 'fast' cell: this run's only mean (200 s) is all there is
    assert eta.seconds() == (2 * 200.0 + 100 * 200.0) / 2
    eta.done(fast, 2.0)
    assert eta.seconds() == (2 * 200.0 + 99 * 2.0) / 2  # synaptic: its cell's mean
    eta.done(slow_syn, 400.0)
    assert eta.unit(slow_syn) == 400.0 and eta.unit(slow) == 200.0
    assert eta.unit(cell_key(_spec("patchtst", "air_quality", "dropout"))) == 300.0  # its cell


def test_eta_on_resume_uses_the_stored_seconds_scaled_to_this_machine() -> None:
    slow, fast = cell_key(_spec("patchtst", "air_quality")), cell_key(_spec("rnn", "bitcoin"))
    prior = [(slow, 100.0), (slow, 140.0), (fast, 1.0)]
    eta = Eta([slow] * 4 + [fast] * 10, slots=2, prior=prior)
    assert eta.seconds() == (4 * 120.0 + 10 * 1.0) / 2  # before any trial of this run ends
    eta.done(slow, 240.0)  # this run is twice as slow as the stored one
    assert eta.unit(slow) == 240.0 and eta.unit(fast) == 2.0
    assert eta.seconds() == (3 * 240.0 + 10 * 2.0) / 2


def test_console_lines_carry_the_per_cell_eta() -> None:
    out = _Stream(tty=False)
    slow, fast = _spec("patchtst", "air_quality"), _spec("rnn", "bitcoin")
    keys = [cell_key(slow)] * 2 + [cell_key(fast)] * 10
    console = Console(total=12, units=12, slots=1, stream=out, keys=keys)
    console.unit_done(300.0, slow)
    console.trial(slow, True, "finished")
    console.unit_done(3.0, fast)
    console.trial(fast, True, "finished")
    console.unit_done(5.0, fast)
    console.trial(fast, True, "finished")
    lines = out.getvalue().splitlines()
    assert console.eta_after == 3  # min(units, max(3, slots + 1))
    assert lines[0].endswith("(ETA after 3 trials)")  # one trial says too little
    assert lines[1].endswith("(ETA after 3 trials)")
    assert lines[2].endswith("(ETA 5m32s)")  # 1 slow x 300 s + 8 fast x 4 s (their mean)


def test_not_a_terminal_one_plain_line_per_trial_with_eta() -> None:
    out = _Stream(tty=False)
    console = Console(total=3, units=3, slots=1, stream=out)
    console.unit_done(12.0)
    console.trial(SPEC, True, "finished mae=1")
    console.note("lstm attempt 1 failed; retrying")
    console.unit_done(8.0)
    console.trial(SPEC, False, "FAILED after 2 attempt(s): RuntimeError: boom")
    console.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "[1/3] lstm synthetic dropout L=8 H=1 seed=0 finished mae=1 (ETA after 3 trials)"
    )
    assert lines[1] == "lstm attempt 1 failed; retrying"
    assert lines[2].startswith("[2/3] lstm synthetic dropout")
    assert lines[2].endswith("(ETA after 3 trials)")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_terminal_a_redrawn_bar_and_failures_above_it_without_escape_codes() -> None:
    out = _Stream(tty=True)
    console = Console(total=4, units=2, slots=2, stream=out)
    console.unit_done(20.0)
    console.trial(SPEC, True, "finished")
    console.trial(SPEC, False, "FAILED: RuntimeError: boom")
    console.close()
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("\r") >= 2 and text.endswith("\n")
    # 2 units on 2 slots: the ETA waits for both
    assert "[############............] 2/4 trials, 1 finished, 1 failed, ETA after 2 trials" in text
    failure = [ln for ln in text.split("\r") if "FAILED" in ln]
    assert failure and failure[0].endswith("\n")  # printed as its own line above the bar
    assert "[1/4]" not in text  # no per-trial lines on a terminal


def test_first_eta_waits_for_more_than_the_first_trial_and_resume_knows_it_at_once() -> None:
    out = _Stream(tty=False)
    console = Console(total=10, units=10, slots=2, stream=out)
    for seconds in (60.0, 10.0, 10.0):  # the first trial carried the start-up
        console.unit_done(seconds)
        console.trial(SPEC, True, "finished")
    lines = out.getvalue().splitlines()
    assert [ln.rsplit("(ETA ", 1)[1] for ln in lines] == [
        "after 3 trials)",
        "after 3 trials)",
        "1m33s)",  # 7 left x mean 26.67 s / 2 slots = 93.3 s
    ]
    resumed = Console(total=4, units=4, slots=2, stream=_Stream(tty=False), prior=[(("", ""), 8)])
    assert resumed.eta_after == 0 and resumed.eta_text() == "16s"  # 4 x 8 s / 2 slots


def test_sweep_console_drops_mlflow_and_alembic_info_lines() -> None:
    import logging

    from synprune.runtime.console import quiet_library_logs

    quiet_library_logs()
    for name in ("mlflow", "mlflow.store.db.utils", "alembic.runtime.migration"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name


def test_plain_text_strips_ansi_codes_and_control_characters() -> None:
    coloured = "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1)\r\n\x1b]8;;x\x07link\x07\tok\x00"
    assert plain_text(coloured) == "ray::ImplicitFunc.train() (pid=1)\nlink\tok"


def _tune_error_file(*failures: str) -> str:
    return "".join(
        f"Failure # {i} (occurred at 2026-01-01_00-00-0{i})\n{text}\n"
        for i, text in enumerate(failures, 1)
    )


def test_lost_with_node_reads_rays_own_exception_texts() -> None:
    pytest.importorskip("ray")
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        NodeDiedError,
        ObjectLostError,
        RayActorError,
        RayTaskError,
        WorkerCrashedError,
    )

    lost = [
        ActorDiedError(),
        RayActorError(),
        ActorUnavailableError("connection lost", None),
        ObjectLostError("ab" * 14, None, ""),
        WorkerCrashedError(),
    ]
    for exc in lost:
        assert lost_with_node(_tune_error_file(str(exc))), type(exc).__name__
    # a task error whose cause is a lost actor / node (e.g. a Ray Train worker died)
    for cause in (ActorDiedError(), NodeDiedError("node 1 died")):
        try:
            raise cause
        except Exception as exc:
            wrapped = RayTaskError("train", _traceback(exc), exc)
        assert lost_with_node(_tune_error_file(str(wrapped))), type(cause).__name__
    # the trial's own bug is not "lost", and only the LAST failure counts
    try:
        raise RuntimeError("explode regularizer went off at step 1")
    except RuntimeError as exc:
        own = str(RayTaskError("train", _traceback(exc), exc))
    assert not lost_with_node(_tune_error_file(own))
    assert not lost_with_node(_tune_error_file(str(ActorDiedError()), own))
    assert lost_with_node(_tune_error_file(own, str(ActorDiedError())))
    assert first_line(_tune_error_file(own)) == (
        "RuntimeError: explode regularizer went off at step 1"
    )
    assert last_failure(_tune_error_file("a", "b")) == "b"


def _traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))

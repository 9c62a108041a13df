"""The sweep's closing summary and exit code (``synprune.cli.sweep.summary_lines``) for a
real ``SweepSummary``: a write that failed past the spool is said with its count, the sweep
run is not FINISHED, the ``--resume`` command is printed and the exit code is non-zero.
(Unit level: an unwritable artifact folder mid-sweep is not reproducible in a fast test; the
runtime's side is tests/runtime/test_write_queue.py.)"""

from __future__ import annotations

from synprune.cli.sweep import INTERRUPTED, UNRECORDED, summary_lines
from synprune.runtime.sweep import SweepSummary

RESUME = "synprune sweep --config c.toml --tracking-uri sqlite:///s.db --resume"


def test_unrecorded_trials_are_counted_with_the_resume_line_and_exit_non_zero() -> None:
    s = SweepSummary(
        total=12, finished=5, failed=1, skipped=2, left=4, seconds=125.0, interrupted=True,
        unrecorded=2, error="OSError: [Errno 28] No space left on device",
    )  # fmt: skip
    lines, rc = summary_lines(s, "exp", "sqlite:///s.db", RESUME)
    assert rc == UNRECORDED == 1
    assert lines == [
        "sweep exp stopped: 2 trial(s) ended but could not be recorded (OSError: [Errno 28] "
        "No space left on device); 5 finished, 1 failed, 4 left to run, 2 finished before "
        "(of 12 trials, 2m05s)",
        "  the sweep run is not marked FINISHED; free the space / fix the folder, then",
        f"  resume: {RESUME}",
    ]


def test_interrupted_and_finished_summaries_keep_their_codes() -> None:
    stopped = SweepSummary(total=4, finished=1, left=3, seconds=61.0, interrupted=True)
    lines, rc = summary_lines(stopped, "exp", "sqlite:///s.db", RESUME)
    assert rc == INTERRUPTED == 130
    assert lines == [
        "sweep exp interrupted: 1 finished, 0 failed, 3 left to run, 0 finished before "
        "(of 4 trials, 1m01s)",
        f"  resume: {RESUME}",
    ]
    done = SweepSummary(total=4, finished=4, seconds=9.0)
    lines, rc = summary_lines(done, "exp", "sqlite:///s.db", RESUME)
    assert rc == 0 and lines[0] == (
        "sweep exp: 4 finished, 0 failed, 0 skipped (already finished) of 4 trials in 0m09s"
    )
    assert "resume" not in "\n".join(lines)
    failed = SweepSummary(total=4, finished=3, failed=1, seconds=9.0)
    lines, rc = summary_lines(failed, "exp", "sqlite:///s.db", RESUME)
    assert rc == 1 and "1 failed trial(s) keep their error in MLflow" in lines[-1]
    spooled = SweepSummary(total=4, finished=4, spooled=2, seconds=9.0)
    assert summary_lines(spooled, "exp", "sqlite:///s.db", RESUME)[1] == 1

"""Why a Tune trial failed, from the error *text* Tune writes (``error.txt``), as plain text.

The driver never unpickles Tune's ``error.pkl``: Ray storage can be a shared folder or bucket
that others can write, and unpickling runs code. Whether a trial died with its Ray actor or
node (and should run again) is read from the text of its last failure: Ray's own messages for
lost actors / objects, or the innermost exception type of a task's traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

#: ANSI escape sequences (CSI ``ESC [ ... letter``, OSC ``ESC ] ... BEL|ESC \``, two-byte ESC x)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Tune's header before each failure in error.txt
_FAILURE = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)\s*$", re.MULTILINE)
_EXC_LINE = re.compile(r"^\s*((?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception)))(?::\s?(.*))?$")
#: exceptions that mean "the trial's actor, worker, node or objects were lost", not its own bug
LOST_TYPES = frozenset(
    {
        "RayActorError",
        "ActorDiedError",
        "ActorUnavailableError",
        "NodeDiedError",
        "WorkerCrashedError",
        "LocalRayletDiedError",
        "ObjectLostError",
        "OwnerDiedError",
        "ObjectFetchTimedOutError",
        "ObjectReconstructionFailedError",
        "ObjectReconstructionFailedMaxAttemptsExceededError",
        "ObjectReconstructionFailedLineageEvictedError",
    }
)
#: how ``str()`` of those exceptions begins (their text carries no type name)
_LOST_MESSAGES = (
    "The actor died unexpectedly before finishing this task",
    "The actor experienced an error before finishing this task",
    "The worker died unexpectedly while executing this task",
    "Failed to retrieve object",
)
_LOST_UNAVAILABLE = re.compile(r"^The actor \S+ is unavailable:")


def plain_text(text: str) -> str:
    """``text`` without ANSI colour / cursor codes and other control characters (tabs and
    newlines kept), so tags, error.txt and logs hold plain text."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))


def last_failure(text: str) -> str:
    """The text of the last failure in a Tune ``error.txt`` (all of it without headers)."""
    heads = list(_FAILURE.finditer(text))
    return text[heads[-1].end() :].strip() if heads else text.strip()


def lost_with_node(text: str) -> bool:
    """Did the last failure in ``text`` lose the trial's actor, worker, node or objects (so it
    is worth running again), rather than raise an error of its own?"""
    body = plain_text(last_failure(text))
    head = body.lstrip().splitlines()[0] if body.strip() else ""
    if head.startswith(_LOST_MESSAGES) or _LOST_UNAVAILABLE.match(head):
        return True
    innermost = exception_type(body)
    return innermost in LOST_TYPES


def exception_type(text: str) -> str | None:
    """Type name (last dotted part) of the innermost ``SomeError: message`` line, if any."""
    for line in reversed(text.splitlines()):
        m = _EXC_LINE.match(line)
        if m:
            return m.group(2)
    return None


def first_line(text: str) -> str:
    """One line for a console: the innermost ``SomeError: message`` (Ray wraps exceptions in
    tracebacks), else the last non-blank line; at most 200 characters."""
    lines = [ln.strip() for ln in plain_text(text).strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if _EXC_LINE.match(ln):
            return ln[:200]
    return (lines[-1] if lines else "unknown error")[:200]


def trial_error_text(trial: Any) -> str:
    """Plain text of a trial's failures. Tune writes ``error.txt`` into the trial's driver
    staging folder when the failure happens and copies it to the storage path only at its next
    sync, so ``trial.get_error()`` (which reads storage) often finds nothing yet inside a
    callback: read the staging file first."""
    text: str | None = None
    with contextlib.suppress(Exception):
        if trial.error_file and os.path.isfile(trial.error_file):
            text = Path(trial.error_file).read_text(errors="replace")
    if not text:
        with contextlib.suppress(Exception):
            err = trial.get_error()
            text = str(err) if err is not None else None
    return plain_text(text) if text else "trial failed (no error text)"

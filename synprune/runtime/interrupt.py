"""Ctrl-C for a sweep / tune driver: the first stops gracefully, the second at once.
SIGTERM is handled as Ctrl-C (a scheduler or ``kill`` stops the sweep the same clean way).

The first SIGINT only sets a flag: the Tune pass that is running ends (:class:`StopTune`
hands the request to Tune as ``SIGUSR1``, which Tune's ``tune.run`` always handles by ending
its loop and saving the experiment state; running trials are stopped, nothing is recorded for
them) and no further pass starts, so callers can write what finished, close their runs as
KILLED and say how to resume. A second SIGINT raises ``KeyboardInterrupt`` wherever the driver
is. Tune's own SIGINT handler is switched off (``TUNE_DISABLE_SIGINT_HANDLER=1``): it would
swallow the first Ctrl-C in every new pass (e.g. a ``--resume`` sweep's) and let the sweep go on.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from ray import tune

_REQUESTED = threading.Event()
_ACTIVE = threading.Event()  # graceful_sigint's handlers are installed
_TUNE_SIGINT_ENV = "TUNE_DISABLE_SIGINT_HANDLER"


def requested() -> bool:
    """Has the user pressed Ctrl-C (SIGINT) while :func:`graceful_sigint` was active?"""
    return _REQUESTED.is_set()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _REQUESTED.is_set():
        raise KeyboardInterrupt
    _REQUESTED.set()
    what = "interrupted" if signum == signal.SIGINT else f"{signal.Signals(signum).name} received"
    print(
        f"\n{what}: stopping the running trials (Ctrl-C again to stop at once)",
        file=sys.stderr,
        flush=True,
    )


def stop_requested_by(reason: str) -> None:
    """Stop the sweep as the first Ctrl-C does, for ``reason`` (e.g. runs cannot be written:
    callable from any thread)."""
    if not _REQUESTED.is_set():
        _REQUESTED.set()
        print(f"\nstopping: {reason}", file=sys.stderr, flush=True)


def retake_signals() -> None:
    """Install the handlers of :func:`graceful_sigint` again: ``ray.init`` replaces SIGTERM's
    (Ray's core worker aborts with a C++ stack dump on it). Call it after Ray has started, in
    the main thread, inside ``graceful_sigint``."""
    if _ACTIVE.is_set() and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handle)
        signal.signal(signal.SIGTERM, _handle)


@contextmanager
def graceful_sigint() -> Iterator[None]:
    """Install the two-stage Ctrl-C handler for the block (main thread only; elsewhere the
    block runs with the handlers as they are)."""
    _REQUESTED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_env = os.environ.get(_TUNE_SIGINT_ENV)
    old_int = signal.getsignal(signal.SIGINT)
    old_term = signal.getsignal(signal.SIGTERM)
    old_usr1 = signal.getsignal(signal.SIGUSR1)
    os.environ[_TUNE_SIGINT_ENV] = "1"
    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)  # e.g. `kill`, a scheduler, a container stop
    _ACTIVE.set()
    try:
        yield
    finally:
        _ACTIVE.clear()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGUSR1, old_usr1)
        if old_env is None:
            os.environ.pop(_TUNE_SIGINT_ENV, None)
        else:
            os.environ[_TUNE_SIGINT_ENV] = old_env


class StopTune(tune.Callback):
    """Ends the running Tune pass once Ctrl-C was pressed: at the start of Tune's next loop
    step (Tune's SIGUSR1 handler is installed by then) it sends this process ``SIGUSR1``."""

    def __init__(self) -> None:
        self.sent = False

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if _REQUESTED.is_set() and not self.sent and callable(signal.getsignal(signal.SIGUSR1)):
            self.sent = True
            os.kill(os.getpid(), signal.SIGUSR1)

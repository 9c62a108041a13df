"""What a sweep prints while it runs: a progress bar on a terminal, one line per trial otherwise
(logs, CI, pipes), with an ETA from the durations of the trials finished so far.

Everything written is plain text: no ANSI codes. The bar redraws with a carriage return only.
Ray's bundled ``colorama`` registers an exit hook that writes a colour reset to a terminal
stdout; :func:`no_colour_reset_at_exit` removes it (it would follow the summary).
"""

from __future__ import annotations

import atexit
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

_BAR = 24


def eta_seconds(durations: Sequence[float], remaining: int, slots: int) -> float | None:
    """Seconds until ``remaining`` trials are done, ``slots`` at a time, each taking the mean of
    ``durations`` (wall seconds of the trials finished so far); None before the first."""
    if not durations:
        return None
    if remaining <= 0:
        return 0.0
    mean = sum(durations) / len(durations)
    return mean * math.ceil(remaining / max(1, slots))


def fmt_seconds(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``; ``?`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def describe(spec: Mapping[str, Any]) -> str:
    """``lstm synthetic dropout[p=0.3] L=8 H=1 seed=0`` for a spec dict."""
    label = _arm(spec)
    return (
        f"{spec['model']['name']} {spec['dataset']} {label} L={spec['seq_len']} "
        f"H={spec.get('horizon', 1)} seed={spec['seed']}"
    )


def _arm(spec: Mapping[str, Any]) -> str:
    try:
        from synprune.experiment.spec import TrialSpec

        return str(TrialSpec.from_dict(spec).arm)
    except Exception:
        return str(spec["regularizer"]["name"])


class Console:
    """Progress of ``total`` trials (specs) run as ``units`` Tune trials, ``slots`` at a time."""

    def __init__(
        self,
        total: int,
        units: int,
        slots: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.total, self.units, self.slots = total, units, max(1, slots)
        self.done = self.finished = self.failed = 0
        self.durations: list[float] = []
        self._bar_width = 0

    # -- events --------------------------------------------------------------------------------
    def unit_done(self, seconds: float | None) -> None:
        """A Tune trial (one or several specs) ended after ``seconds`` of wall time."""
        if seconds is not None:
            self.durations.append(seconds)
        self.units = max(self.units - 1, 0)

    def trial(self, spec: Mapping[str, Any], ok: bool, text: str) -> None:
        """One spec ended: ``finished ...`` or ``FAILED ...`` (``text`` is the detail)."""
        self.done += 1
        self.finished += ok
        self.failed += not ok
        if self.tty:
            if not ok:
                self.note(f"{describe(spec)} {text}")
            self._draw()
            return
        self._write(
            f"[{self.done}/{self.total}] {describe(spec)} {text} (ETA {fmt_seconds(self.eta())})\n"
        )

    def note(self, text: str) -> None:
        """A line outside the per-trial record (retries, lost nodes, warnings)."""
        if self.tty:
            self._clear()
            self._write(text + "\n")
            self._draw()
        else:
            self._write(text + "\n")

    def close(self) -> None:
        if self.tty and self._bar_width:
            self._write("\n")
            self._bar_width = 0

    # -- rendering -----------------------------------------------------------------------------
    def eta(self) -> float | None:
        return eta_seconds(self.durations, self.units, self.slots)

    def bar(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * _BAR)
        return (
            f"[{'#' * filled}{'.' * (_BAR - filled)}] {self.done}/{self.total} trials, "
            f"{self.finished} finished, {self.failed} failed, ETA {fmt_seconds(self.eta())}"
        )

    def _draw(self) -> None:
        text = self.bar()
        pad = max(0, self._bar_width - len(text))
        self._write("\r" + text + " " * pad)
        self._bar_width = len(text)

    def _clear(self) -> None:
        if self._bar_width:
            self._write("\r" + " " * self._bar_width + "\r")
            self._bar_width = 0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def no_colour_reset_at_exit() -> None:
    """Drop the exit hook of Ray's bundled colorama (``colorama.init`` at import of Ray's CLI
    logger) that writes ``ESC[0m`` to a terminal stdout when the process ends."""
    initialise = sys.modules.get("colorama.initialise")
    reset_all = getattr(initialise, "reset_all", None)
    if callable(reset_all):
        atexit.unregister(reset_all)

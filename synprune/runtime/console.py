"""What a sweep prints while it runs: a progress bar on a terminal, one line per trial otherwise
(logs, CI, pipes), with an ETA from the durations of the trials finished so far, costed per
model x dataset x window (:class:`Eta`).

Everything written is plain text: no ANSI codes. The bar redraws with a carriage return only.
Ray's bundled ``colorama`` registers an exit hook that writes a colour reset to a terminal
stdout; :func:`no_colour_reset_at_exit` removes it (it would follow the summary).
"""

from __future__ import annotations

import atexit
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from synprune.experiment.spec import TrialSpec

_BAR = 24
_ANY = ("", "")  # the key of every unit when the console is not told their cells


Key = tuple[str, str]  # (cell "model dataset L=.. H=..", regularizer family)


def cell_key(spec: TrialSpec) -> Key:
    """What a trial's cost depends on most: its model, dataset and window, then its family."""
    cell = f"{spec.model.name} {spec.dataset} L={spec.seq_len} H={spec.horizon}"
    return cell, spec.regularizer.name


class Eta:
    """Seconds until the trials left are done, ``slots`` at a time.

    A sweep's trials differ in cost by two orders of magnitude (a PatchTST on hourly data
    against an RNN on daily prices), so one mean over the trials finished so far misleads
    whenever the grid's order groups the costly ones. Each unit left is costed, in this order,
    by the mean wall time in this run of finished units of its cell and family, else of its
    cell, else by the stored seconds of its cell from an earlier run (``prior``: resume) scaled
    by how this run's units compared with their stored seconds, else by this run's overall
    mean. ``None`` while nothing is known. The total is the sum over units divided by
    ``slots``, and never less than the costliest unit left.
    """

    def __init__(
        self,
        keys: Sequence[Key],
        slots: int,
        prior: Sequence[tuple[Key, float]] = (),
    ) -> None:
        self.slots = max(1, slots)
        self.left: Counter[Key] = Counter(keys)
        self.seen: dict[tuple[str, ...], list[float]] = defaultdict(list)
        self.prior: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for key, seconds in prior:
            for level in _levels(key):
                self.prior[level].append(seconds)
        self._observed = self._expected = 0.0  # this run's wall vs stored seconds, same units
        self.timed = 0  # units of this run with a known duration

    def done(self, key: Key, seconds: float | None) -> None:
        if self.left[key] > 0:
            self.left[key] -= 1
        if seconds is None:
            return
        self.timed += 1
        expected = self._prior(key)
        if expected is not None:
            self._observed += seconds
            self._expected += expected
        for level in _levels(key):
            self.seen[level].append(seconds)

    def unit(self, key: Key) -> float | None:
        """Expected seconds of one unit with ``key``."""
        for level in _levels(key)[:2]:
            if self.seen[level]:
                return _mean(self.seen[level])
        expected = self._prior(key)
        if expected is not None:
            scale = self._observed / self._expected if self._expected > 0 else 1.0
            return expected * scale
        return _mean(self.seen[()]) if self.seen[()] else None

    def seconds(self) -> float | None:
        left = [(key, n) for key, n in self.left.items() if n > 0]
        if not left:
            return 0.0 if (self.seen[()] or self.prior[()]) else None
        costs = [(self.unit(key), n) for key, n in left]
        if any(cost is None for cost, _ in costs):
            return None
        known = [(float(cost), n) for cost, n in costs if cost is not None]
        return max(sum(c * n for c, n in known) / self.slots, max(c for c, _ in known))

    def _prior(self, key: Key) -> float | None:
        for level in _levels(key)[:2]:
            if self.prior[level]:
                return _mean(self.prior[level])
        return None


def _levels(key: Key) -> list[tuple[str, ...]]:
    return [key, key[:1], ()]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


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


def describe(spec: TrialSpec) -> str:
    """``lstm synthetic dropout[p=0.3] L=8 H=1 seed=0`` (``TrialSpec.label``)."""
    return spec.label()


class Console:
    """Progress of ``total`` trials (specs) run as ``units`` Tune trials, ``slots`` at a time.

    ``keys`` holds each unit's :func:`cell_key` (all alike when not given) and ``prior`` the
    (key, seconds) of trials an earlier run finished; both only sharpen the ETA."""

    def __init__(
        self,
        total: int,
        units: int,
        slots: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
        keys: Sequence[Key] | None = None,
        prior: Sequence[tuple[Key, float]] = (),
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.total, self.slots = total, max(1, slots)
        self.done = self.finished = self.failed = 0
        self._eta = Eta(list(keys) if keys is not None else [_ANY] * units, self.slots, prior)
        #: units to time before an ETA is shown (a first trial alone says little: it carries
        #: the start-up costs, and ``slots`` trials run at once); a resume knows stored times
        self.eta_after = 0 if prior else min(max(1, units), max(3, self.slots + 1))
        self._bar_width = 0

    # -- events --------------------------------------------------------------------------------
    def unit_done(self, seconds: float | None, spec: TrialSpec | None = None) -> None:
        """A Tune trial (one or several specs, ``spec`` the first) ended after ``seconds``."""
        self._eta.done(cell_key(spec) if spec is not None else _ANY, seconds)

    def trial(self, spec: TrialSpec, ok: bool, text: str) -> None:
        """One spec ended: ``finished ...`` or ``FAILED ...`` (``text`` is the detail)."""
        self.done += 1
        self.finished += ok
        self.failed += not ok
        if self.tty:
            if not ok:
                self.note(f"{describe(spec)} {text}")
            self._draw()
            return
        self._write(f"[{self.done}/{self.total}] {describe(spec)} {text} (ETA {self.eta_text()})\n")

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
        return self._eta.seconds()

    def eta_text(self) -> str:
        """``3m05s``, or ``after N trials`` while fewer than ``eta_after`` units are timed."""
        if self._eta.timed < self.eta_after:
            return f"after {self.eta_after} trials"
        return fmt_seconds(self.eta())

    def bar(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * _BAR)
        return (
            f"[{'#' * filled}{'.' * (_BAR - filled)}] {self.done}/{self.total} trials, "
            f"{self.finished} finished, {self.failed} failed, ETA {self.eta_text()}"
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


def quiet_library_logs() -> None:
    """No INFO lines of MLflow (``Creating initial MLflow database tables...``) or of alembic's
    schema migrations on the sweep's console: warnings and errors still show. MLflow sets its
    logger's level when it is imported, so it is imported first."""
    import logging

    import mlflow  # noqa: F401  (configures the "mlflow" logger; the sweep imports it anyway)

    for name in ("mlflow", "alembic"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def no_colour_reset_at_exit() -> None:
    """Drop the exit hook of Ray's bundled colorama (``colorama.init`` at import of Ray's CLI
    logger) that writes ``ESC[0m`` to a terminal stdout when the process ends."""
    initialise = sys.modules.get("colorama.initialise")
    reset_all = getattr(initialise, "reset_all", None)
    if callable(reset_all):
        atexit.unregister(reset_all)

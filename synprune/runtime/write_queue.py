"""The sweep driver's MLflow writes, off Tune's event loop: :class:`WriteQueue`.

Tune calls its callbacks in the driver's one event loop, and a function trainable's
``tune.report`` waits until the driver has taken its result, so a callback that wrote a run
(metrics, ``curves.png``, predictions, the logged model: tenths of a second per trial) kept
every trial waiting. The callback only *enqueues* the trial's :class:`RunRecord`; one writer
thread writes the records in order through the one ``Tracker`` (still a single writer: the
main thread touches the store only before the queue starts and after :meth:`WriteQueue.close`).
The queue is bounded, so a slow store slows the sweep down instead of filling the memory.

A record counts as recorded only once ``Tracker.write`` returned (``written``, ``spooled`` or
``duplicate``; "finished" is still the run's very last write). A write that raises even past the
spool (e.g. a full disk or an unwritable spool folder) stops the writer: that record and every
later one are *unrecorded* (their trials run again on ``--resume``), and ``on_failure`` is
called once so the sweep can stop.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synprune.tracking.records import RunRecord
    from synprune.tracking.writer import Tracker

_STOP = object()


class WriteQueue:
    """One writer thread for ``tracker``; :meth:`put` returns at once unless ``maxsize``
    records are waiting."""

    def __init__(
        self,
        tracker: Tracker,
        *,
        maxsize: int = 16,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.tracker = tracker
        self.outcomes: Counter[str] = Counter()  # written | spooled | duplicate | unrecorded
        self.unrecorded_status: Counter[str] = Counter()  # finished | failed, of the unrecorded
        self.notes: list[str] = []  # outcome notes for the console (read in the main thread)
        self.error = ""  # why the writer stopped; "" while it runs
        self.busy_seconds = 0.0  # time spent writing (benchmarks/bench_sweep.py --profile)
        self._on_failure = on_failure
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="synprune-writer", daemon=True)
        self._thread.start()

    def put(self, rec: RunRecord) -> None:
        """Write ``rec`` after the records before it (blocks while the queue is full)."""
        if self.error:
            self._count("unrecorded", rec.status)
            return
        self._queue.put(rec)

    def take_notes(self) -> list[str]:
        with self._lock:
            notes, self.notes = self.notes, []
        return notes

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued, then stop the thread; False if it is still writing after
        ``timeout`` seconds (e.g. a store that hangs)."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def unrecorded(self) -> int:
        """Trials that ended but are neither written nor spooled."""
        with self._lock:
            return self.outcomes["unrecorded"]

    def unrecorded_with(self, status: str) -> int:
        with self._lock:
            return self.unrecorded_status[status]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            rec: RunRecord = item  # type: ignore[assignment]
            if self.error:
                self._count("unrecorded", rec.status)
                continue
            t0 = time.perf_counter()
            try:
                outcome = self.tracker.write(rec)
            except BaseException as exc:  # a thread must not die silently
                self.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                self._count("unrecorded", rec.status)
                if self._on_failure is not None:
                    self._on_failure(self.error)
                continue
            finally:
                self.busy_seconds += time.perf_counter() - t0
            self._count(outcome)
            if outcome == "spooled":
                self._note(f"{rec.run_name}: tracking store unreachable: spooled")
            elif outcome == "duplicate":
                self._note(f"{rec.run_name}: already recorded: not written twice")

    def _count(self, outcome: str, status: str = "") -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if outcome == "unrecorded":
                self.unrecorded_status[status] += 1

    def _note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

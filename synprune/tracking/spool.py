"""The spool: run records waiting for an unreachable store, one JSON file each in
``<store>/spool/<experiment>/``, named so that sorting gives the oldest first. Writes are
atomic (temporary file + rename); a file that cannot be parsed is renamed ``*.json.bad`` (kept
for a person to look at, never deleted) so that it cannot block the records behind it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from synprune.tracking.records import RunRecord


class Spool:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _paths(self) -> list[Path]:
        return sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []

    def __len__(self) -> int:
        return len(self._paths())

    def put(self, rec: RunRecord) -> Path:
        """Add ``rec`` (atomically)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{rec.created_ms:014d}-{rec.record_id}.json"
        self.update(path, rec)
        return path

    def update(self, path: Path, rec: RunRecord) -> None:
        """Rewrite ``path`` with ``rec`` (e.g. with its ``last_error``), atomically."""
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(asdict(rec), allow_nan=True))
            os.replace(tmp, path)
        except BaseException:  # e.g. disk full: leave no empty or partial .tmp behind
            tmp.unlink(missing_ok=True)
            raise

    def items(self) -> Iterator[tuple[Path, RunRecord]]:
        """(path, record), oldest first; unparsable files are set aside as ``*.bad``."""
        for path in self._paths():
            try:
                rec = RunRecord.from_json(json.loads(path.read_text()))
            except (ValueError, TypeError, KeyError):
                with contextlib.suppress(OSError):
                    path.rename(path.with_name(path.name + ".bad"))
                continue
            except OSError:
                continue
            yield path, rec

    def records(self) -> list[RunRecord]:
        return [rec for _, rec in self.items()]

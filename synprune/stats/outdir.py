"""The output folder: never overwrite a file ``synprune stats`` did not write.

Every run writes a manifest, ``synprune-stats-manifest.json``, listing the files it wrote with
their sha256. A later run may replace a file only if the manifest lists it *and* its content is
unchanged since (so an edited report.md, or a ranking.csv someone else put there, is refused);
``--force`` overrides. Files the previous run wrote that this run does not write (e.g. a
sensitivity.png from a sweep with swept fields) are removed under the same proof, so the folder
never mixes two runs. Files the manifest does not list are never touched.

Two runs into one folder at once would interleave their files and manifests: a run holds an
exclusive ``fcntl.flock`` on the folder itself (:func:`locked`) from before it reads its rows
until its files, manifest and MLflow log are written; a second run refuses at once. Locking the
folder, not a lock file in it, leaves nothing behind: a refused or failed run changes nothing
(a folder it had to create is removed again if it wrote nothing into it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from synprune.errors import ConfigError

MANIFEST = "synprune-stats-manifest.json"
TOOL = "synprune stats"


@contextlib.contextmanager
def locked(out: Path) -> Iterator[Path]:
    """Hold the exclusive lock of output folder ``out`` (created if missing) for the block;
    ``ConfigError`` at once if another process holds it. Yields ``out``."""
    created = [p for p in (out, *out.parents) if not p.exists()]  # deepest first
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held by another process
        os.close(fd)
        raise ConfigError(
            f"--out {out}: another synprune stats run is writing into this folder (it holds "
            "the folder's lock); wait for it to finish, or choose another --out"
        ) from None
    try:
        yield out
    finally:
        for made in created:  # nothing written: created folders go (rmdir refuses non-empty)
            with contextlib.suppress(OSError):
                made.rmdir()
        os.close(fd)  # releases the lock


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class OutputPlan:
    """What a run may do in ``out``: the files it will write and the stale ones to remove."""

    out: Path
    names: tuple[str, ...]
    stale: tuple[str, ...]


def _owned(out: Path) -> dict[str, str] | None:
    """name -> sha256 from the manifest; None if there is no manifest; raises if it is foreign."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("tool") != TOOL or not isinstance(data.get("files"), dict):
            raise ValueError
        return {str(k): str(v) for k, v in data["files"].items()}
    except (OSError, ValueError, AttributeError):
        raise ConfigError(
            f"--out {out}: {MANIFEST} is not a manifest written by {TOOL}; refusing to "
            "overwrite it (choose another --out, or pass --force)"
        ) from None


def plan(out: Path, names: Sequence[str], force: bool = False) -> OutputPlan:
    """Check that writing ``names`` into ``out`` overwrites nothing foreign; nothing is created.

    Raises ConfigError naming the first file that exists and is not provably this tool's own.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if not out.exists():
        return OutputPlan(out, tuple(names), ())
    if force:
        owned = {}
        with contextlib.suppress(ConfigError):  # a foreign manifest is simply overwritten
            owned = _owned(out) or {}
        stale = tuple(n for n in owned if n not in names and _matches(out / n, owned[n]))
        return OutputPlan(out, tuple(names), stale)
    owned = _owned(out) or {}
    foreign = [n for n in (*names, MANIFEST) if (out / n).exists() and not _is_own(out, n, owned)]
    if foreign:
        more = f" (and {len(foreign) - 1} more: {', '.join(foreign[1:4])})" if foreign[1:] else ""
        why = (
            "which has changed since synprune stats wrote it"
            if foreign[0] in owned
            else "which synprune stats did not write"
        )
        raise ConfigError(
            f"--out {out}: refusing to overwrite {out / foreign[0]}, {why}{more}; choose "
            "another --out, move the file, or pass --force"
        )
    stale = tuple(n for n in owned if n not in names and _matches(out / n, owned[n]))
    return OutputPlan(out, tuple(names), stale)


def _is_own(out: Path, name: str, owned: dict[str, str]) -> bool:
    if name == MANIFEST:
        return True  # _owned() already proved it
    return name in owned and _matches(out / name, owned[name])


def _matches(path: Path, digest: str) -> bool:
    return path.is_file() and not path.is_symlink() and sha256(path) == digest


def record(p: OutputPlan, written: Iterable[Path]) -> Path:
    """Remove the plan's stale files and write the manifest of ``written`` (atomically)."""
    for name in p.stale:
        (p.out / name).unlink(missing_ok=True)
    files = {path.name: sha256(path) for path in written}
    path = p.out / MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"tool": TOOL, "files": files}, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path

"""Fixtures for the dataset tests: a real HTTP server on 127.0.0.1 serving a folder, and the
folder of the real M4 Hourly files."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from synprune.datasets.m4 import M4_FILES


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(base_url, folder)``: whatever is put in ``folder`` is served at ``base_url/<name>``."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def m4_dir() -> Path:
    """``SYNPRUNE_DATA_DIR``, skipping the test when the M4 Hourly files are not in it."""
    d = Path(os.environ.get("SYNPRUNE_DATA_DIR", ""))
    missing = [f.filename for f in M4_FILES.values() if not (d / f.filename).is_file()]
    if missing:
        pytest.skip(f"M4 Hourly files {missing} not found in SYNPRUNE_DATA_DIR={d!s}")
    return d

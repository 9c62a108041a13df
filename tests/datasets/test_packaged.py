"""Offline use: the redistributable files ship in the package; imports inside datasets form no
circle; missing files say where to put them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import numpy as np
import pytest

import synprune.datasets as datasets_pkg
from synprune.datasets import load_dataset
from synprune.datasets.sources import (
    DATA_URL_ENV,
    PACKAGE_DATA_DIR,
    SOURCES,
    find_local,
    packaged_file,
    sha256_file,
    verify_packaged,
)
from synprune.errors import DataError

PKG = Path(datasets_pkg.__file__).parent
SHIPPED = {"aapl": "AAPL_data.csv", "air_quality": "AirQualityUCI.csv"}
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens, a download would fail


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SYNPRUNE_DATA_DIR and a download URL that cannot be reached."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SYNPRUNE_DATA_DIR", str(empty))
    monkeypatch.setenv(DATA_URL_ENV, UNREACHABLE)
    return empty


def test_shipped_files_match_their_sha256_and_notice() -> None:
    assert PACKAGE_DATA_DIR == PKG / "data"
    notice = (PACKAGE_DATA_DIR / "README.md").read_text()
    shipped = sorted(p.name for p in PACKAGE_DATA_DIR.glob("*.csv"))
    assert shipped == sorted(SHIPPED.values())  # never bitcoin, ETTh1, exchange_rate, retail
    for name, filename in SHIPPED.items():
        src = SOURCES[name]
        assert src.packaged and src.filename == filename
        assert sha256_file(PACKAGE_DATA_DIR / filename) == src.sha256
        assert src.sha256 in notice and filename in notice
    assert not any(s.packaged for n, s in SOURCES.items() if n not in SHIPPED)
    assert "CC0" in notice and "CC BY 4.0" in notice and "De Vito" in notice
    assert "https://archive.ics.uci.edu/dataset/360/air+quality" in notice


def test_pyproject_ships_the_data_files(repo_root: Path) -> None:
    cfg = tomllib.loads((repo_root / "pyproject.toml").read_text())
    globs = cfg["tool"]["setuptools"]["package-data"]["synprune.datasets"]
    matched = {p.name for g in globs for p in PKG.glob(g)}
    assert matched == {*SHIPPED.values(), "README.md"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_loads_offline_from_the_package(name: str, offline: Path, shared_data_dir: Path) -> None:
    data = load_dataset(name)
    assert data.source == str(PACKAGE_DATA_DIR / SHIPPED[name])
    assert any("copy shipped with synprune" in n for n in data.notes)
    assert list(offline.iterdir()) == []  # nothing downloaded or copied
    reference = load_dataset(name, data_dir=shared_data_dir)
    np.testing.assert_array_equal(data.values, reference.values)
    assert find_local(name) == packaged_file(name) == PACKAGE_DATA_DIR / SHIPPED[name]


def test_data_dir_file_wins_over_the_packaged_copy(offline: Path, shared_data_dir: Path) -> None:
    (offline / "AAPL_data.csv").write_bytes((shared_data_dir / "AAPL_data.csv").read_bytes())
    assert load_dataset("aapl").source == str(offline / "AAPL_data.csv")
    assert find_local("aapl") == offline / "AAPL_data.csv"


def test_corrupted_packaged_copy_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "AAPL_data.csv"
    copy.write_bytes((PACKAGE_DATA_DIR / "AAPL_data.csv").read_bytes().replace(b"67.", b"68.", 1))
    with pytest.raises(DataError, match=r"packaged copy .* rejected: sha256 mismatch"):
        verify_packaged(copy, SOURCES["aapl"].sha256)


@pytest.mark.parametrize("name", ["bitcoin", "etth1", "exchange_rate", "retail"])
def test_missing_dataset_error_names_the_data_dir(name: str, offline: Path) -> None:
    assert find_local(name) is None and packaged_file(name) is None
    with pytest.raises(DataError) as err:
        load_dataset(name)
    msg = str(err.value)
    assert "$SYNPRUNE_DATA_DIR" in msg and str(offline / SOURCES[name].filename) in msg
    assert list(offline.iterdir()) == []


def test_retail_manual_steps_are_data() -> None:
    steps = SOURCES["retail"].manual_steps
    assert len(steps) >= 3 and all(isinstance(s, str) and s for s in steps)
    joined = " ".join(steps)
    assert "kaggle.com/datasets/" in joined and "retail_store_inventory.csv" in joined
    assert "SYNPRUNE_DATA_DIR" in joined
    assert all(not s.manual_steps for n, s in SOURCES.items() if n != "retail")


def _imports(path: Path) -> set[str]:
    """Modules of synprune.datasets that ``path`` imports, at any depth (lazy ones too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "synprune.datasets":
                found |= {a.name for a in node.names}
            elif node.module.startswith("synprune.datasets."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.count(".") >= 2
                      and a.name.startswith("synprune.datasets.")}  # fmt: skip
    return found


def test_no_import_circle_inside_datasets() -> None:
    modules = {p.stem: p for p in PKG.glob("*.py") if p.stem != "__init__"}
    graph = {m: _imports(p) & set(modules) for m, p in modules.items()}
    assert "parsers" not in graph["registry"] or "registry" not in graph["parsers"]
    # depth-first search for a cycle
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        if state.get(m) == 1:
            raise AssertionError(f"import circle: {' -> '.join([*trail, m])}")
        if state.get(m) == 2:
            return
        state[m] = 1
        for dep in sorted(graph[m]):
            visit(dep, [*trail, m])
        state[m] = 2

    for m in sorted(graph):
        visit(m, [])
    assert graph["series"] == set()  # the bottom: SeriesData imports nothing of datasets
    assert "builtin" not in set().union(*(graph[m] for m in graph))  # only __init__ imports it

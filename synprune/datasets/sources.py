"""Where the shipped dataset files live, how they are downloaded and how they are verified.

Lookup order (``locate``):

1. ``data_dir`` argument, else ``$SYNPRUNE_DATA_DIR``, else ``~/.cache/synprune/datasets``;
2. the copy shipped inside the package (``synprune/datasets/data/``, see its README.md) for the
   files whose licence allows redistribution (AAPL_data.csv: CC0; AirQualityUCI.csv:
   CC BY 4.0, De Vito et al. 2008), so the main job runs offline on a fresh machine; it is
   checked against the sha256 below like a download, and refused if it differs;
3. a download from its canonical source (or from ``$SYNPRUNE_DATA_URL/<file name>`` / a
   ``base_url`` argument, for mirrors and tests), checked against the sha256 below and only
   then moved into place with ``os.replace``: a failed or corrupted download leaves nothing
   in the cache.

sha256 policy: verified on every download, on every packaged copy and by ``synprune datasets
check``. On load, a file in the data dir whose sha256 differs from the expected one is *used*
but a ``UserWarning`` is issued and a note is added to ``SeriesData.notes`` (results on a
different copy are not comparable).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from synprune.errors import DataError

DATA_DIR_ENV = "SYNPRUNE_DATA_DIR"
DATA_URL_ENV = "SYNPRUNE_DATA_URL"
DEFAULT_DATA_DIR = Path("~/.cache/synprune/datasets")

XALENTIS_URL = "https://raw.githubusercontent.com/xalentis/TimeseriesToolkit/main/data"
ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small"
# Time-Series-Library's dataset collection (Autoformer's exchange_rate.csv with date + OT).
TSLIB_URL = "https://huggingface.co/datasets/thuml/Time-Series-Library/resolve/main"
RETAIL_URL = (
    "https://www.kaggle.com/datasets/anirudhchauhan/retail-store-inventory-forecasting-dataset"
)
# M4 competition files (Makridakis et al. 2020), github.com/Mcompetitions/M4-methods Dataset/
M4_URL = "https://raw.githubusercontent.com/Mcompetitions/M4-methods/master/Dataset"
PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class DatasetSource:
    """One shipped dataset file: what it is, where it comes from, how to check it."""

    name: str
    filename: str
    sha256: str | None  # None: unknown (user-supplied file, never downloaded)
    url: str | None  # canonical download URL; None: no public direct link
    rows: int  # data rows in the file (README of the shared datasets)
    target: str
    split: str  # human description of the split
    origin: str  # where to get it by hand
    licence: str = "source terms"
    packaged: bool = False  # a copy ships in synprune/datasets/data/ (licence allows it)
    manual_steps: tuple[str, ...] = ()  # how to get the file by hand (no automatic download)


SOURCES: dict[str, DatasetSource] = {
    s.name: s
    for s in (
        DatasetSource(
            "bitcoin",
            "bitcoin.csv",
            "6dd58c3530925dcee493278233cb81979fd6b8da436f913b9947e2d57f9b571a",
            f"{XALENTIS_URL}/bitcoin.csv",
            365,
            "close",
            "70/10/20",
            "CoinMarketCap export in github.com/xalentis/TimeseriesToolkit data/bitcoin.csv",
            licence="CoinMarketCap terms (not redistributed)",
        ),
        DatasetSource(
            "aapl",
            "AAPL_data.csv",
            "2d8446ec898312bb0e943772cbb83b017b4d1b3e5f1ceb09e717ef2d71f75efa",
            f"{XALENTIS_URL}/AAPL_data.csv",
            1259,
            "close",
            "70/10/20",
            "Kaggle camnugent/sandp500 (AAPL_data.csv), copy in xalentis/TimeseriesToolkit",
            licence="CC0 1.0",
            packaged=True,
        ),
        DatasetSource(
            "air_quality",
            "AirQualityUCI.csv",
            "13277ae5d8581e80b7be09d47c7d3d06fe9b8e957078f2cf6e859f955e62f996",
            f"{XALENTIS_URL}/AirQualityUCI.csv",
            9357,
            "CO(GT)",
            "70/10/20",
            "UCI ML Repository 'Air Quality' (De Vito et al. 2008, "
            "https://archive.ics.uci.edu/dataset/360/air+quality), copy in "
            "xalentis/TimeseriesToolkit",
            licence="CC BY 4.0 (attribution: De Vito et al. 2008, UCI ML Repository)",
            packaged=True,
        ),
        DatasetSource(
            "etth1",
            "ETTh1.csv",
            "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
            f"{ETT_URL}/ETTh1.csv",
            17420,
            "OT",
            "12/4/4 months",
            "github.com/zhouhaoyi/ETDataset ETT-small/ETTh1.csv",
            licence="CC BY-ND 4.0 (not redistributed)",
        ),
        DatasetSource(
            "exchange_rate",
            "exchange_rate.csv",
            "d55e7aa2641009814a18ba3279431b13f6d413b0eab195b9ff21988d8cf94e97",
            f"{TSLIB_URL}/exchange_rate/exchange_rate.csv",
            7588,
            "OT",
            "7:1:2",
            "LTSF collection (Autoformer / Time-Series-Library) exchange_rate/exchange_rate.csv",
            licence="as distributed (not redistributed)",
        ),
        DatasetSource(
            "m4_hourly",
            "m4_hourly_train.csv",
            "ea59b7783573c49077a835ab6465c7d66f1474783360f310988a9a737fbca62f",
            f"{M4_URL}/Train/Hourly-train.csv",
            414,
            "one series: m4_hourly:H1..H414",
            "M4: last 48 train points = val, the official 48 test points (m4_hourly_test)",
            "M4 competition, github.com/Mcompetitions/M4-methods Dataset/Train/Hourly-train.csv "
            "(wide: V1 = series id, then the values; ragged rows)",
            licence="M4 competition data, public for research (not redistributed)",
        ),
        DatasetSource(
            "m4_hourly_test",
            "m4_hourly_test.csv",
            "71a57fccb15e534d973626ada4fb87febf789e9317715b7cc6dd3b5f90db6f42",
            f"{M4_URL}/Test/Hourly-test.csv",
            414,
            "the 48 test points of each m4_hourly series",
            "test part of m4_hourly",
            "M4 competition, github.com/Mcompetitions/M4-methods Dataset/Test/Hourly-test.csv",
            licence="M4 competition data, public for research (not redistributed)",
        ),
        DatasetSource(
            "retail",
            "retail_store_inventory.csv",
            None,
            None,
            73100,
            "Demand Forecast",
            "70/10/20 (of 731 days)",
            "Kaggle 'Retail Store Inventory Forecasting Dataset' (retail_store_inventory.csv)",
            licence="Kaggle dataset terms (not redistributed)",
            manual_steps=(
                f"open {RETAIL_URL} (a free Kaggle account is needed)",
                "click Download and unzip the archive",
                "copy retail_store_inventory.csv into the data dir ($SYNPRUNE_DATA_DIR, "
                "default ~/.cache/synprune/datasets) without renaming it",
                "run `synprune datasets check` to see it listed (no sha256 is pinned for it)",
            ),
        ),
    )
}


def data_dir(override: str | Path | None = None) -> Path:
    """The folder holding dataset files: ``override``, else $SYNPRUNE_DATA_DIR, else the cache."""
    if override is not None:
        path, where = Path(override).expanduser(), "the data folder"
    else:
        env = os.environ.get(DATA_DIR_ENV)
        path = Path(env).expanduser() if env else DEFAULT_DATA_DIR.expanduser()
        where = f"{DATA_DIR_ENV}={env}" if env else "the default data folder"
    if path.exists() and not path.is_dir():
        raise DataError(f"{where}: {path} is a file, not a folder; point it at a folder")
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def source_url(src: DatasetSource, base_url: str | None = None) -> str | None:
    """Download URL: ``base_url``/$SYNPRUNE_DATA_URL + file name if set, else the canonical."""
    base = base_url or os.environ.get(DATA_URL_ENV)
    if base:
        return f"{base.rstrip('/')}/{src.filename}"
    return src.url


def _manual_hint(src: DatasetSource, dest: Path) -> str:
    hint = f"get it from {src.origin} and save it as {dest}"
    if src.manual_steps:
        hint += " (steps: " + "; ".join(src.manual_steps) + ")"
    return f"{hint}, or point ${DATA_DIR_ENV} at a folder holding {src.filename}"


def packaged_file(name: str) -> Path | None:
    """The copy of ``name``'s file shipped in the package, or None (licence or not installed)."""
    src = SOURCES[name]
    path = PACKAGE_DATA_DIR / src.filename
    return path if src.packaged and path.is_file() else None


@lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def verify_packaged(path: Path, sha256: str) -> Path:
    """``path`` if its sha256 is ``sha256`` (cached per size and mtime), else ``DataError``."""
    st = path.stat()
    got = _sha256_cached(str(path), st.st_size, st.st_mtime_ns)
    if got != sha256:
        raise DataError(
            f"packaged copy {path} rejected: sha256 mismatch (expected {sha256}, got {got}); "
            f"reinstall synprune, or put the canonical file in ${DATA_DIR_ENV}"
        )
    return path


def find_local(name: str, data_dir_override: str | Path | None = None) -> Path | None:
    """The file ``locate`` would use without downloading (data dir, then package), or None."""
    path = data_dir(data_dir_override) / SOURCES[name].filename
    return path if path.is_file() else packaged_file(name)


def locate(name: str, data_dir_override: str | Path | None = None) -> Path:
    """``name``'s file: data dir, else the verified packaged copy, else a verified download."""
    src = SOURCES[name]
    dest = data_dir(data_dir_override) / src.filename
    if dest.is_file():
        return dest
    packaged = packaged_file(name)
    if packaged is not None and src.sha256 is not None:
        return verify_packaged(packaged, src.sha256)
    return fetch(name, data_dir_override=data_dir_override)


def download(url: str, dest: Path, sha256: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, accepting it only if its sha256 matches.

    The bytes go to a temporary file in ``dest``'s folder while being hashed; on a match it is
    renamed onto ``dest`` (``os.replace``), otherwise deleted and ``DataError`` names the
    expected and the received sha256.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    while block := resp.read(1 << 20):
                        h.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError) as exc:
                raise DataError(f"download of {url} failed: {exc}") from exc
        got = h.hexdigest()
        if got != sha256:
            raise DataError(
                f"download of {url} rejected: sha256 mismatch (expected {sha256}, got {got}); "
                f"nothing was written to {dest.parent}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def fetch(
    name: str, *, data_dir_override: str | Path | None = None, base_url: str | None = None
) -> Path:
    """Path of ``name``'s file, downloading (and verifying) it first when it is missing."""
    src = SOURCES[name]
    dest = data_dir(data_dir_override) / src.filename
    if dest.is_file():
        return dest
    url = source_url(src, base_url)
    if url is None or src.sha256 is None:
        raise DataError(
            f"dataset {name!r}: file {dest} not found and it cannot be downloaded "
            f"automatically; {_manual_hint(src, dest)}"
        )
    try:
        return download(url, dest, src.sha256)
    except DataError as exc:
        raise DataError(
            f"dataset {name!r}: {dest} not found and {exc}; or {_manual_hint(src, dest)}"
        ) from exc


def verify_local(name: str, path: Path) -> tuple[str, ...]:
    """Compare a local file with its expected sha256: warn and return a note on mismatch."""
    src = SOURCES[name]
    if src.sha256 is None:
        return ()
    got = sha256_file(path)
    if got == src.sha256:
        return ()
    msg = (
        f"{path}: sha256 {got} differs from the expected {src.sha256} for {name!r}; "
        "using it anyway, but results are not comparable with the canonical file"
    )
    warnings.warn(msg, UserWarning, stacklevel=3)
    return (msg,)


def check(name: str, data_dir_override: str | Path | None = None) -> tuple[str, str | None]:
    """``(status, sha)`` of ``name``'s local file: ok | mismatch | missing | unverified."""
    src = SOURCES[name]
    path = data_dir(data_dir_override) / src.filename
    if not path.is_file():
        return "missing", None
    got = sha256_file(path)
    if src.sha256 is None:
        return "unverified", got
    return ("ok" if got == src.sha256 else "mismatch"), got

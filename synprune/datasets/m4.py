"""The raw M4 competition files: one wide row per series, read into ``id -> (train, test)``.

Source: Makridakis, Spiliotis & Assimakopoulos, "The M4 Competition: 100,000 time series and
61 forecasting methods", IJF 36(1), 2020; files from github.com/Mcompetitions/M4-methods
(``Dataset/Train/Hourly-train.csv``, ``Dataset/Test/Hourly-test.csv``). Layout (both files):
a header ``"V1","V2",...``; one row per series; column V1 = the series id (``H1``..``H414``),
then the values in time order. Train rows are ragged (shorter series end in empty cells); each
test row holds exactly the ``horizon`` points that follow its train series. Horizon and
seasonality per frequency are those of the M4 Competitor's Guide (hourly: 48 and 24).

Files are looked up as ``m4_<frequency>_train.csv`` / ``m4_<frequency>_test.csv`` in the data
dir (``data_dir`` argument, else ``$SYNPRUNE_DATA_DIR``, else the cache) and downloaded from the
public repository when missing (verified against the sha256 below before being moved into
place, ``sources.download``). A local file whose sha256 differs is used with a ``UserWarning``
(the project's policy, see ``sources``). The M4 files must not be committed or packaged.

Parsing is vectorised (pandas) and cached per process (key: path, size, mtime); the returned
arrays are read-only float64.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from synprune.datasets import sources
from synprune.errors import DataError, FieldError

M4_URL: Final = "https://raw.githubusercontent.com/Mcompetitions/M4-methods/master/Dataset"

# M4 Competitor's Guide: forecasting horizon and seasonal period (frequency) of hourly data.
M4_HOURLY: Final = MappingProxyType({"horizon": 48, "season": 24})
M4_FREQUENCIES: Final = MappingProxyType({"hourly": M4_HOURLY})


@dataclass(frozen=True)
class M4File:
    """One M4 file: local name, canonical URL and sha256 (shared/datasets/README.md)."""

    filename: str
    url: str
    sha256: str


M4_FILES: Final[dict[tuple[str, str], M4File]] = {
    ("hourly", "train"): M4File(
        "m4_hourly_train.csv",
        f"{M4_URL}/Train/Hourly-train.csv",
        "ea59b7783573c49077a835ab6465c7d66f1474783360f310988a9a737fbca62f",
    ),
    ("hourly", "test"): M4File(
        "m4_hourly_test.csv",
        f"{M4_URL}/Test/Hourly-test.csv",
        "71a57fccb15e534d973626ada4fb87febf789e9317715b7cc6dd3b5f90db6f42",
    ),
}


def _check_frequency(frequency: str) -> str:
    if frequency not in M4_FREQUENCIES:
        raise FieldError("frequency", frequency, f"one of {', '.join(M4_FREQUENCIES)}")
    return frequency


def m4_spec(frequency: str = "hourly") -> MappingProxyType[str, int]:
    """``{"horizon": H, "season": m}`` of an M4 frequency (M4 Competitor's Guide)."""
    return M4_FREQUENCIES[_check_frequency(frequency)]


def locate_m4(
    frequency: str = "hourly", part: str = "train", data_dir: str | Path | None = None
) -> Path:
    """Local path of an M4 file, downloading and verifying it first when it is missing."""
    _check_frequency(frequency)
    if part not in ("train", "test"):
        raise FieldError("part", part, "'train' or 'test'")
    spec = M4_FILES[(frequency, part)]
    dest = sources.data_dir(data_dir) / spec.filename
    if dest.is_file():
        return dest
    mirror = os.environ.get(sources.DATA_URL_ENV)  # same mirror rule as ``sources.source_url``
    url = f"{mirror.rstrip('/')}/{spec.filename}" if mirror else spec.url
    try:
        return sources.download(url, dest, spec.sha256)
    except DataError as exc:
        raise DataError(
            f"M4 {frequency} {part} file {dest} not found and {exc}; download {spec.url} "
            f"by hand and save it as {dest}, or point ${sources.DATA_DIR_ENV} at a folder "
            f"holding {spec.filename}"
        ) from exc


@lru_cache(maxsize=8)
def _sha_ok(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return sources.sha256_file(Path(path)) == expected


def _read_wide(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, values)``: ids as str, values float64 (NaN = empty cell); errors name the line."""
    try:
        df = pd.read_csv(
            path, dtype={"V1": str}, keep_default_na=False, na_values=[""],
            skip_blank_lines=False, engine="c",
        )  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as an M4 CSV file: {exc}") from exc
    if df.shape[1] < 2 or df.columns[0] != "V1":
        raise DataError(f'{path}: line 1 must be the header "V1","V2",...')
    if df.empty:
        raise DataError(f"{path}: no data rows")
    text = df.iloc[:, 1:]
    # Fast path: pandas inferred float/int columns; only columns holding text are coerced.
    odd = [c for c in text.columns if not pd.api.types.is_numeric_dtype(text[c])]
    numeric = text.copy()
    for c in odd:
        numeric[c] = pd.to_numeric(text[c].astype(str).str.strip(), errors="coerce")
    values = numeric.to_numpy(dtype=np.float64)
    bad = np.isinf(values)
    if odd:
        bad |= text.notna().to_numpy() & np.isnan(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: line {r + 2}, column {text.columns[c]}: {text.iat[r, c]!r} is not a "
            "finite number"
        )
    ids = df.iloc[:, 0].to_numpy(dtype=object)
    no_id = pd.isna(ids) | (df.iloc[:, 0].astype(str).str.strip() == "").to_numpy()
    if no_id.any():
        raise DataError(f"{path}: line {int(np.flatnonzero(no_id)[0]) + 2}: series id missing")
    return ids.astype(str), values


def _lengths(path: Path, values: np.ndarray) -> np.ndarray:
    """Length of each row's non-empty prefix; a gap inside a row is refused, naming the line."""
    present = ~np.isnan(values)
    lengths = present.sum(axis=1)
    gap = present[:, 1:] & ~present[:, :-1]  # a value after an empty cell
    if gap.any():
        r, c = np.argwhere(gap)[0]
        raise DataError(
            f"{path}: line {r + 2}: empty cell in column V{c + 2} before the last value; "
            "values must be contiguous (only trailing cells may be empty)"
        )
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise DataError(f"{path}: line {int(empty[0]) + 2}: series has no values")
    return np.asarray(lengths)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@lru_cache(maxsize=4)
def _parse(
    train: str, test: str, horizon: int, _stamp: tuple[int, ...]
) -> MappingProxyType[str, tuple[np.ndarray, np.ndarray]]:
    tr_path, te_path = Path(train), Path(test)
    tr_ids, tr_vals = _read_wide(tr_path)
    te_ids, te_vals = _read_wide(te_path)
    tr_len = _lengths(tr_path, tr_vals)
    te_len = _lengths(te_path, te_vals)
    wrong = np.flatnonzero(te_len != horizon)
    if wrong.size:
        r = int(wrong[0])
        raise DataError(
            f"{te_path}: line {r + 2}: series {te_ids[r]} has {te_len[r]} test values; "
            f"the horizon is {horizon}"
        )
    dup = np.flatnonzero(pd.Series(tr_ids).duplicated().to_numpy())
    if dup.size:
        r = int(dup[0])
        raise DataError(f"{tr_path}: line {r + 2}: series id {tr_ids[r]} appears twice")
    n = min(len(te_ids), len(tr_ids))
    diff = np.flatnonzero(te_ids[:n] != tr_ids[:n])
    if diff.size or len(te_ids) != len(tr_ids):
        r = int(diff[0]) if diff.size else n
        raise DataError(
            f"{te_path}: line {r + 2}: series ids differ from {tr_path.name} "
            f"({len(te_ids)} test rows, {len(tr_ids)} train rows; the rows must list the same "
            "ids in the same order)"
        )
    out = {
        sid: (_frozen(tr_vals[i, : tr_len[i]]), _frozen(te_vals[i, :horizon]))
        for i, sid in enumerate(tr_ids.tolist())
    }
    return MappingProxyType(out)


def read_m4(
    frequency: str = "hourly", *, data_dir: str | Path | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{series id: (train, test)}`` of an M4 frequency, in file order (H1, H2, ...).

    ``train`` holds the series' training values (ragged lengths; hourly 700-960), ``test`` the
    official ``horizon`` points that follow it; both read-only float64 arrays. Parsed once per
    process (per file version); a malformed file raises one ``DataError`` naming file and line.
    """
    spec = m4_spec(frequency)
    paths = [locate_m4(frequency, part, data_dir) for part in ("train", "test")]
    stamp: list[int] = []
    for part, path in zip(("train", "test"), paths, strict=True):
        st = path.stat()
        stamp += [st.st_size, st.st_mtime_ns]
        expected = M4_FILES[(frequency, part)].sha256
        if not _sha_ok(str(path), st.st_size, st.st_mtime_ns, expected):
            warnings.warn(
                f"{path}: sha256 differs from the M4 file's {expected}; using it anyway, but "
                "results are not comparable with the published M4 scores",
                UserWarning,
                stacklevel=2,
            )
    table = _parse(str(paths[0]), str(paths[1]), int(spec["horizon"]), tuple(stamp))
    return dict(table)


def read_m4_series(
    series_id: str, frequency: str = "hourly", *, data_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` of one series (e.g. ``"H123"``); an unknown id raises ``FieldError``."""
    table = read_m4(frequency, data_dir=data_dir)
    if series_id not in table:
        ids = list(table)
        raise FieldError("series", series_id, f"an id {ids[0]}..{ids[-1]} ({len(ids)} series)")
    return table[series_id]

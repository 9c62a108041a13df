"""Reading CSV files: delimiters, header, numbers, dates and value checks.

Every problem with a file raises one ``DataError`` naming the file, the column and where:
``line N`` is the *file line* (the header is line 1, as an editor shows it; blank lines
count); ``data row N`` (1-based) is used for values computed after parsing (e.g. daily
aggregates), where no file line exists.

Cells that are empty or hold a pandas NA token (``NaN``, ``NA``, ``null``, ...) are *missing*
and go to the gap policy (``gaps``). Numbers must be finite and fit float32 (the dtype models
train in): ``inf`` is refused as infinite, a finite number beyond +-3.4e38 (e.g. ``1e300``) as
exceeding the float32 range.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.errors import DataError

DELIMITERS = (",", ";", "\t")
#: the most columns a CSV may have (checked on the header line, before the file is parsed)
MAX_COLUMNS = 10_000
FLOAT32_MAX = float(np.finfo(np.float32).max)
_INF_TEXT = re.compile(r"^[+-]?(inf|infinity)$", re.IGNORECASE)


def line_of(index: int) -> int:
    """File line of data row ``index`` (0-based frame index, header on line 1)."""
    return int(index) + 2


def sniff_delimiter(path: Path) -> str:
    """The most frequent of , ; TAB in the header line (',' when none occurs)."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def resolve_path(path: str | Path) -> Path:
    """``path`` absolute with symlinks resolved; a symlink loop or an unreadable link is one
    ``DataError``."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # 3.11: RuntimeError("Symlink loop from ...")
        raise DataError(f"{path}: cannot be opened ({exc})") from None


def _check_header(path: Path, sep: str) -> None:
    """Refuse a header with more than ``MAX_COLUMNS`` columns (counted on the raw line, before
    pandas parses the file) or that names a column twice (pandas would silently rename it
    'x.1')."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        n_cols = fh.readline().count(sep) + 1
    if n_cols > MAX_COLUMNS:
        raise DataError(
            f"{path}: header (line 1) has {n_cols:,} {sep!r}-separated columns; allowed: at most "
            f"{MAX_COLUMNS:,} (keep the target and the features you need)"
        )
    head = pd.read_csv(
        path, sep=sep, header=None, nrows=1, dtype=str, encoding="utf-8-sig",
        skipinitialspace=True, keep_default_na=False,
    )  # fmt: skip
    names = [str(n).strip() for n in head.iloc[0].tolist()] if len(head) else []
    seen: dict[str, int] = {}
    for pos, n in enumerate(names, start=1):
        if not n:
            continue
        if n in seen:
            raise DataError(
                f"{path}: header (line 1) names column {n!r} twice (columns {seen[n]} and "
                f"{pos}); rename one of them"
            )
        seen[n] = pos


def read_table(path: Path, sep: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """All cells as strings (NaN where missing); empty rows and unnamed empty columns dropped.

    The frame's index is the 0-based data row in the file (blank lines included), so
    ``line_of(index)`` is the file line.
    """
    try:
        if not path.is_file():
            raise DataError(f"{path}: file not found")
    except OSError as exc:  # e.g. a symlink loop (ELOOP)
        raise DataError(f"{path}: cannot be opened ({exc.strerror})") from None
    sep = sep or sniff_delimiter(path)
    try:
        _check_header(path, sep)
        df = pd.read_csv(
            path, sep=sep, dtype=str, encoding="utf-8-sig", skipinitialspace=True,
            skip_blank_lines=False,
        )  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be parsed as a {sep!r}-separated CSV: {exc}") from exc
    notes = []
    empty_cols = [c for c in df.columns if str(c).startswith("Unnamed:") and df[c].isna().all()]
    if empty_cols:
        df = df.drop(columns=empty_cols)
        notes.append(f"dropped {len(empty_cols)} empty unnamed column(s)")
    empty_rows = df.isna().all(axis=1).to_numpy()
    if empty_rows.any():
        df = df.loc[~empty_rows]
        notes.append(f"dropped {int(empty_rows.sum())} empty row(s)")
    if df.empty:
        raise DataError(f"{path}: no data rows")
    return df, notes


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{path}: no column {', '.join(map(repr, missing))}; "
            f"available: {', '.join(map(str, df.columns))}"
        )


def parse_numbers(
    df: pd.DataFrame, column: str, *, decimal_comma: bool = False
) -> tuple[pd.Series, int | None]:
    """``(float64 column with NaN where missing, position of the first non-numeric cell)``."""
    raw = df[column].str.strip()
    text = raw.str.replace(",", ".", regex=False) if decimal_comma else raw
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (raw.notna() & (raw != "") & num.isna()).to_numpy()
    return num, (int(np.flatnonzero(bad)[0]) if bad.any() else None)


def to_numeric(
    df: pd.DataFrame, column: str, path: Path, *, decimal_comma: bool = False
) -> pd.Series:
    """Column as float64 (NaN where missing); a non-numeric cell raises, naming its line."""
    num, bad = parse_numbers(df, column, decimal_comma=decimal_comma)
    if bad is not None:
        raise DataError(
            f"{path}: column {column!r} is not numeric: line {line_of(df.index[bad])} "
            f"holds {df[column].iloc[bad]!r}"
        )
    return num


def check_values(frame: pd.DataFrame, path: Path, *, raw: pd.DataFrame | None = None) -> None:
    """Refuse infinite values and values beyond the float32 range (NaN = missing is fine).

    ``raw`` is the text the numbers came from (same index): columns present in it are
    located by file line and quoted as written; others by 1-based data row.
    """
    x = frame.to_numpy(dtype=np.float64)
    with np.errstate(over="ignore"):
        bad = np.isinf(x) | np.isinf(x.astype(np.float32))
    if not bad.any():
        return
    row, col = (int(i[0]) for i in np.nonzero(bad))  # first bad row, then leftmost column
    name = frame.columns[col]
    if raw is not None and name in raw.columns:
        where, shown = f"line {line_of(frame.index[row])}", str(raw[name].iloc[row]).strip()
    else:
        where, shown = f"data row {row + 1} (1-based)", repr(float(x[row, col]))
    if _INF_TEXT.match(shown):
        why = "is infinite; values must be finite (leave the cell empty to mark it missing)"
    else:
        why = f"exceeds float32 range (largest magnitude {FLOAT32_MAX:.7g})"
    raise DataError(f"{path}: column {name!r}, {where}: value {shown!r} {why}")


def parse_dates(
    strings: pd.Series, path: Path, column: str, *, fmt: str | None = None, sort: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(timestamps datetime64[ns] naive UTC, order or None)``; bad/duplicate/unsorted raise.

    With ``sort=True`` descending or shuffled rows are put in order (``order`` is the row
    permutation to apply, ``None`` when already sorted); otherwise unsorted dates raise.
    """
    lines = strings.index.to_numpy()
    if strings.isna().any():
        i = int(np.flatnonzero(strings.isna().to_numpy())[0])
        raise DataError(f"{path}: column {column!r} has an empty date at line {line_of(lines[i])}")
    parsed = pd.to_datetime(strings.str.strip(), format=fmt, errors="coerce", utc=True)
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        want = f" (expected format {fmt!r})" if fmt else ""
        raise DataError(
            f"{path}: column {column!r}: unparsable date {strings.iloc[i]!r} "
            f"at line {line_of(lines[i])}{want}"
        )
    ts = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[ns]")
    order = None
    if sort and len(ts) > 1 and not (np.diff(ts) > np.timedelta64(0)).all():
        order = np.argsort(ts, kind="stable")
        ts, lines = ts[order], lines[order]
    step = np.diff(ts)
    bad = np.flatnonzero(step <= np.timedelta64(0))
    if bad.size:
        i = int(bad[0]) + 1
        kind = "duplicated" if step[i - 1] == np.timedelta64(0) else "out of order"
        raise DataError(
            f"{path}: column {column!r}: date {strings.loc[lines[i]]!r} at line "
            f"{line_of(lines[i])} is {kind} (previous row, line {line_of(lines[i - 1])}: "
            f"{strings.loc[lines[i - 1]]!r}); dates must be strictly increasing"
        )
    return ts, order


def sentinel_notes(frame: pd.DataFrame, flag: str = "--missing-value") -> list[str]:
    """One warning per value that looks like a "not measured" code used as data: in some
    column it is the minimum (or maximum), fills more than 1 % of the rows and lies outside
    the other values' 1st-99th percentile range by more than that range's width (UCI Air
    Quality's -200 beside CO values of 0.1-12). Zeros in a count series stay quiet: they
    border the other values."""
    found: dict[float, list[str]] = {}
    x = frame.to_numpy(dtype=np.float64)
    for j, name in enumerate(frame.columns):
        col = x[:, j][np.isfinite(x[:, j])]
        if col.size < 100:
            continue
        for v in {float(col.min()), float(col.max())}:
            hits = int((col == v).sum())
            rest = col[col != v]
            if hits <= 0.01 * col.size or rest.size < 10:
                continue
            p1, p99 = np.percentile(rest, [1, 99])
            width = max(float(p99 - p1), 1e-12)
            if not p1 - width <= v <= p99 + width:
                found.setdefault(v, []).append(
                    f"{name!r} ({hits / col.size:.1%} of its rows; others {p1:.4g} to {p99:.4g})"
                )
    return [
        f"warning: the value {v:g} looks like a missing-value code used as data, far outside "
        f"the other values of column(s) {', '.join(cols[:4])}"
        f"{f' and {len(cols) - 4} more' if len(cols) > 4 else ''}; if it means 'not "
        f"measured', pass {flag} {v:g}"
        for v, cols in found.items()
    ]

"""CSV parsing shared by every dataset: reading, dates, numbers, the gap policy, ``csv:PATH``.

Every problem with a file raises ``DataError`` naming the file, the column and the line
(``line`` counts the header as line 1, as an editor shows it).

Gap policy (``fill_gaps``), applied to every dataset after its missing-value codes became NaN:

1. a column with no value at all is an error; a *covariate* column missing in more than
   ``MAX_MISSING_FRACTION`` of its rows is dropped (noted); a target that sparse is an error;
2. leading / trailing rows with a missing target are cut off (noted);
3. interior gaps of every column are filled by linear interpolation along the rows, and
   covariate gaps at the very start/end by the nearest value;
4. a *target* gap longer than ``MAX_TARGET_GAP`` rows is interpolated too (so later windows
   have inputs), but its rows are marked in ``SeriesData.target_valid`` and ``prepare_windows``
   drops every window that would train on or be scored on such an invented target.
   Short gaps (<= ``MAX_TARGET_GAP``) count as observed.

Cutting to the longest gap-free stretch was rejected: on AirQuality it keeps < 25% of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.datasets.registry import SeriesData
from synprune.datasets.splits import ratio_split
from synprune.errors import DataError

MAX_TARGET_GAP = 6
MAX_MISSING_FRACTION = 0.5
DELIMITERS = (",", ";", "\t")


def line_of(index: int) -> int:
    """File line of data row ``index`` (0-based, header on line 1)."""
    return int(index) + 2


def sniff_delimiter(path: Path) -> str:
    """The most frequent of , ; TAB in the header line (',' when none occurs)."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_table(path: Path, sep: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """All cells as strings (NaN where empty); empty trailing rows and unnamed columns dropped."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    sep = sep or sniff_delimiter(path)
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
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


def to_numeric(
    df: pd.DataFrame, column: str, path: Path, *, decimal_comma: bool = False
) -> pd.Series:
    """Column as float64 (NaN where empty); a non-numeric cell raises, naming its line."""
    raw = df[column].str.strip()
    text = raw.str.replace(",", ".", regex=False) if decimal_comma else raw
    num = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (raw.notna() & (raw != "") & num.isna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: column {column!r} is not numeric: line {line_of(df.index[i])} "
            f"holds {df[column].iloc[i]!r}"
        )
    return num


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


def _run_mask(missing: np.ndarray, min_len: int) -> np.ndarray:
    """True on rows inside runs of ``missing`` longer than ``min_len``."""
    edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = (ends - starts) > min_len
    delta = np.zeros(missing.size + 1, dtype=np.int64)
    np.add.at(delta, starts[long], 1)
    np.add.at(delta, ends[long], -1)
    return np.cumsum(delta[:-1]) > 0


def fill_gaps(
    frame: pd.DataFrame, target: str, path: Path, *, max_gap: int = MAX_TARGET_GAP
) -> tuple[pd.DataFrame, np.ndarray | None, slice, list[str]]:
    """Apply the gap policy (module docstring) to a float frame whose first column is target.

    Returns ``(filled frame, target_valid or None, kept row slice, notes)``.
    """
    notes: list[str] = []
    miss = frame.isna()
    frac = miss.mean(axis=0)
    for col in frame.columns:
        if frac[col] == 1.0:
            raise DataError(f"{path}: column {col!r} has no values (every row is missing)")
    if frac[target] > MAX_MISSING_FRACTION:
        raise DataError(f"{path}: target column {target!r} is {frac[target]:.0%} missing")
    sparse = [c for c in frame.columns if c != target and frac[c] > MAX_MISSING_FRACTION]
    if sparse:
        frame = frame.drop(columns=sparse)
        notes.append(
            "dropped mostly-missing column(s) "
            + ", ".join(f"{c!r} ({frac[c]:.0%} missing)" for c in sparse)
        )
    observed = np.flatnonzero(frame[target].notna().to_numpy())
    keep = slice(int(observed[0]), int(observed[-1]) + 1)
    if keep.start > 0 or keep.stop < len(frame):
        notes.append(
            f"cut {keep.start} leading and {len(frame) - keep.stop} trailing rows "
            "with a missing target"
        )
        frame = frame.iloc[keep]
    n_missing = frame.isna().to_numpy().sum(axis=0)
    if not n_missing.any():
        return frame, None, keep, notes
    t_missing = frame[target].isna().to_numpy()
    long_rows = _run_mask(t_missing, max_gap)
    filled = frame.interpolate(method="linear", limit_area="inside").ffill().bfill()
    gaps = ", ".join(f"{c} {n}" for c, n in zip(frame.columns, n_missing) if n)
    notes.append(f"linearly interpolated missing values (rows per column: {gaps})")
    valid = None
    if long_rows.any():
        valid = ~long_rows
        notes.append(
            f"{int(long_rows.sum())} target rows lie in gaps longer than {max_gap} rows: "
            "interpolated for inputs, but windows with such target rows are not used"
        )
    return filled, valid, keep, notes


def build_series(
    name: str,
    df: pd.DataFrame,
    path: Path,
    *,
    target: str,
    features: Sequence[str],
    timestamps: np.ndarray | None,
    notes: Sequence[str] = (),
    decimal_comma: bool = False,
    missing_code: float | None = None,
    split: tuple[float, float, float] = (0.7, 0.1, 0.2),
    split_rows: tuple[int, int] | None = None,
) -> SeriesData:
    """Numbers -> missing codes -> gap policy -> ``SeriesData`` (target first).

    Text columns of ``df`` are parsed with ``to_numeric``; numeric ones are used as they are.
    The split is ``ratio_split`` by ``split`` fractions unless ``split_rows`` fixes it.
    """
    if target not in features:
        raise DataError(
            f"{path}: target {target!r} is not a usable column of dataset {name!r}; "
            f"available: {', '.join(features)}"
        )
    cols = [target, *[c for c in features if c != target]]
    frame = pd.DataFrame(
        {
            c: df[c].astype("float64")
            if pd.api.types.is_numeric_dtype(df[c])
            else to_numeric(df, c, path, decimal_comma=decimal_comma)
            for c in cols
        },
        index=df.index,
    )
    notes = list(notes)
    if missing_code is not None:
        coded = frame == missing_code
        if coded.to_numpy().any():
            notes.append(f"{int(coded.to_numpy().sum())} cells coded {missing_code:g} -> missing")
            frame = frame.mask(coded)
    frame, valid, keep, gap_notes = fill_gaps(frame, target, path)
    if split_rows is not None and len(frame) != len(df):
        raise DataError(
            f"{path}: target {target!r} is missing in the first/last rows; the fixed split "
            f"{split_rows} of dataset {name!r} needs all {len(df)} rows"
        )
    notes += gap_notes
    if timestamps is not None:
        timestamps = timestamps[keep]
    values = np.array(frame.to_numpy(dtype=np.float32), order="C")  # own, writable copy
    return SeriesData(
        name=name,
        values=values,
        columns=tuple(map(str, frame.columns)),
        timestamps=timestamps,
        split=split_rows if split_rows is not None else ratio_split(len(values), *split),
        source=str(path),
        notes=tuple(notes),
        target_valid=None if valid is None else np.array(valid, dtype=bool),
    )


def load_csv(path: str | Path, *, target: str, date_column: str | None = None) -> SeriesData:
    """``csv:PATH``: any CSV (, ; or TAB separated; decimal comma accepted when not ',').

    The target and every other column whose cells are all numbers become features (other
    columns are dropped, noted); ``date_column`` values must parse and strictly increase.
    """
    p = Path(path).expanduser().resolve()
    df, notes = read_table(p)
    sep = sniff_delimiter(p)
    require_columns(df, [target] + ([date_column] if date_column else []), p)
    if date_column == target:
        raise DataError(f"{p}: the date column and the target are both {target!r}")
    timestamps = None
    if date_column:
        timestamps, _ = parse_dates(df[date_column], p, date_column)
    comma = sep != ","
    to_numeric(df, target, p, decimal_comma=comma)  # raises naming the first bad line
    features, dropped = [target], []
    for c in df.columns:
        if c in (target, date_column):
            continue
        try:
            to_numeric(df, c, p, decimal_comma=comma)
            features.append(c)
        except DataError:
            dropped.append(c)
    if dropped:
        notes.append(f"dropped non-numeric column(s): {', '.join(map(repr, dropped))}")
    return build_series(
        f"csv:{p}", df, p, target=target, features=features, timestamps=timestamps,
        notes=notes, decimal_comma=comma,
    )  # fmt: skip

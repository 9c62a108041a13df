"""The shipped datasets, registered by name. Per dataset: file, target, features, quirks.

=============  =====================  =========================================================
name           target (column 0)      other features, parsing
=============  =====================  =========================================================
bitcoin        close                  open, high, low, volume; ISO UTC ``timeOpen`` sorted
                                      ascending; ``marketCap`` dropped (close x supply, a
                                      near-copy of the target)
aapl           close                  open, high, low, volume; constant ``Name`` dropped
air_quality    CO(GT)                 the other 12 sensor/weather columns; ';' + decimal comma,
                                      Date dd/mm/yyyy + Time hh.mm.ss, -200 = missing
                                      (``missing_value``), empty rows/columns dropped;
                                      ``NMHC(GT)`` (mostly missing in train) dropped; gap
                                      policy in ``gaps``
etth1          OT                     HUFL, HULL, MUFL, MULL, LUFL, LULL; cut to the 14400 rows
                                      of the standard 12/4/4-month split
exchange_rate  OT                     0..6; dates ``yyyy/m/d h:mm``; standard 7:1:2 split
retail         Demand Forecast (sum)  daily aggregate, see ``retail``
synthetic      y                      generated, see ``synthetic``
=============  =====================  =========================================================

Seasons (``SeriesData.season``, rows per cycle; the seasonal-naive reference and the MASE
scale use it; a sweep overrides it with ``[datasets.NAME] season = N``, ``train`` with
``--set season=N``): bitcoin 7 (trades every day: a week), aapl 5 (one row per trading day:
a trading week; holidays shift the phase now and then), air_quality, etth1 and synthetic 24
(hourly: a day; synthetic also has a weekly 168-row cycle, 24 is the M4 convention for
hourly data), retail 7 (daily), exchange_rate 1 (exchange rates are close to random walks
with no weekly cycle, and the file's consecutive calendar dates are not its real trading
calendar, so neither 5 nor 7 rows is a week).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from synprune.datasets import sources
from synprune.datasets.build import build_series
from synprune.datasets.parsers import (
    line_of,
    parse_dates,
    read_table,
    require_columns,
    to_numeric,
)
from synprune.datasets.registry import register_dataset
from synprune.datasets.series import SeriesData
from synprune.datasets.splits import ett_hourly_split
from synprune.errors import DataError

OHLCV = ["close", "open", "high", "low", "volume"]


def seasonal(season: int) -> Callable[[Callable[..., SeriesData]], Callable[..., SeriesData]]:
    """Decorator (under ``@register_dataset``): the factory's series gets ``season``."""

    def wrap(factory: Callable[..., SeriesData]) -> Callable[..., SeriesData]:
        @functools.wraps(factory)
        def with_season(**kwargs: object) -> SeriesData:
            return dataclasses.replace(factory(**kwargs), season=season)

        return with_season

    return wrap


def _file(name: str, data_dir: Path | None) -> tuple[Path, list[str]]:
    """The dataset's file (data dir, packaged copy or download) and notes on its origin."""
    path = sources.locate(name, data_dir)
    if path == sources.packaged_file(name):  # already verified against its sha256
        return path, [f"file: copy shipped with synprune ({sources.SOURCES[name].licence})"]
    return path, list(sources.verify_local(name, path))


@register_dataset("bitcoin")
@seasonal(7)
def bitcoin(*, data_dir: Path | None = None, target: str = "close") -> SeriesData:
    path, notes = _file("bitcoin", data_dir)
    df, more = read_table(path, ",")
    require_columns(df, ["timeOpen", *OHLCV], path)
    ts, order = parse_dates(df["timeOpen"], path, "timeOpen", sort=True)
    if order is not None:
        df = df.iloc[order]
        notes.append("rows sorted by timeOpen (ascending)")
    notes += [*more, "marketCap dropped (close x circulating supply, a near-copy of close)"]
    return build_series("bitcoin", df, path, target=target, features=OHLCV, timestamps=ts,
                        notes=notes)  # fmt: skip


@register_dataset("aapl")
@seasonal(5)
def aapl(*, data_dir: Path | None = None, target: str = "close") -> SeriesData:
    path, notes = _file("aapl", data_dir)
    df, more = read_table(path, ",")
    require_columns(df, ["date", *OHLCV], path)
    ts, _ = parse_dates(df["date"], path, "date", fmt="%Y-%m-%d")
    if "Name" in df.columns:
        names = df["Name"].dropna().unique()
        if len(names) > 1:
            raise DataError(f"{path}: column 'Name' holds several stocks: {', '.join(names)}")
        notes.append(f"constant column Name ({', '.join(map(str, names))}) dropped")
    return build_series("aapl", df, path, target=target, features=OHLCV, timestamps=ts,
                        notes=[*notes, *more])  # fmt: skip


AIR_QUALITY_MISSING = -200.0


@register_dataset("air_quality")
@seasonal(24)
def air_quality(
    *,
    data_dir: Path | None = None,
    target: str = "CO(GT)",
    missing_value: float = AIR_QUALITY_MISSING,
) -> SeriesData:
    """UCI Air Quality (De Vito et al. 2008, CC BY 4.0); cells equal to -200 are missing."""
    path, notes = _file("air_quality", data_dir)
    df, more = read_table(path, ";")
    require_columns(df, ["Date", "Time", "CO(GT)"], path)
    stamp = df["Date"].str.strip() + " " + df["Time"].str.strip()
    ts, _ = parse_dates(stamp, path, "Date+Time", fmt="%d/%m/%Y %H.%M.%S")
    features = [c for c in df.columns if c not in ("Date", "Time")]
    return build_series("air_quality", df, path, target=target, features=features,
                        timestamps=ts, notes=[*notes, *more], decimal_comma=True,
                        missing_value=missing_value)  # fmt: skip


@register_dataset("etth1")
@seasonal(24)
def etth1(*, data_dir: Path | None = None, target: str = "OT") -> SeriesData:
    path, notes = _file("etth1", data_dir)
    df, more = read_table(path, ",")
    require_columns(df, ["date", "OT"], path)
    a, b, used = ett_hourly_split()
    if len(df) < used:
        raise DataError(f"{path}: {len(df)} rows, the 12/4/4-month ETT split needs {used}")
    notes.append(
        f"standard ETT split: train {a}, val {b - a}, test {used - b} rows (12/4/4 months of "
        f"30 days); the last {len(df) - used} rows are not used"
    )
    df = df.iloc[:used]
    ts, _ = parse_dates(df["date"], path, "date", fmt="%Y-%m-%d %H:%M:%S")
    features = [c for c in df.columns if c != "date"]
    return build_series("etth1", df, path, target=target, features=features, timestamps=ts,
                        notes=[*notes, *more], split_rows=(a, b))  # fmt: skip


@register_dataset("exchange_rate")
@seasonal(1)
def exchange_rate(*, data_dir: Path | None = None, target: str = "OT") -> SeriesData:
    path, notes = _file("exchange_rate", data_dir)
    df, more = read_table(path, ",")
    require_columns(df, ["date", "OT"], path)
    ts, _ = parse_dates(df["date"], path, "date", fmt="%Y/%m/%d %H:%M")
    features = [c for c in df.columns if c != "date"]
    notes.append("standard LTSF split 7:1:2 (train int(0.7 T), test int(0.2 T), val the rest)")
    return build_series("exchange_rate", df, path, target=target, features=features,
                        timestamps=ts, notes=[*notes, *more])  # fmt: skip


RETAIL_SUMS = ["Demand Forecast", "Inventory Level", "Units Sold", "Units Ordered"]
RETAIL_MEANS = ["Price", "Discount", "Competitor Pricing", "Holiday/Promotion"]
RETAIL_KEYS = ["Date", "Store ID", "Product ID"]


@register_dataset("retail")
@seasonal(7)
def retail(*, data_dir: Path | None = None, target: str = "Demand Forecast") -> SeriesData:
    """One daily series from the store x product panel of the Kaggle retail file.

    Per day: ``Demand Forecast`` (the target), ``Inventory Level``, ``Units Sold`` and
    ``Units Ordered`` are summed over all store x product rows; ``Price``, ``Discount``,
    ``Competitor Pricing`` and ``Holiday/Promotion`` (so: the share of pairs on promotion) are
    averaged. Category, Region, Weather Condition and Seasonality (categorical, and not one
    value per day) are dropped. Dates are dd-mm-yyyy (as documented) or yyyy-mm-dd.
    """
    path, notes = _file("retail", data_dir)
    df, more = read_table(path, None)
    notes += more
    require_columns(df, RETAIL_KEYS + RETAIL_SUMS + RETAIL_MEANS, path)
    dates = df["Date"].str.strip()
    first = dates.dropna().iloc[0] if dates.notna().any() else ""
    fmt = "%Y-%m-%d" if re.match(r"^\d{4}-", first) else "%d-%m-%Y"
    parsed = pd.to_datetime(dates, format=fmt, errors="coerce")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(
            f"{path}: column 'Date': unparsable date {df['Date'].iloc[i]!r} at line "
            f"{line_of(df.index[i])} "
            f"(expected {fmt!r})"
        )
    dup = df.duplicated(subset=RETAIL_KEYS).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{path}: line {line_of(df.index[i])} repeats Date/Store ID/Product ID "
            f"{tuple(df[RETAIL_KEYS].iloc[i])}"
        )
    num = pd.DataFrame({c: to_numeric(df, c, path) for c in RETAIL_SUMS + RETAIL_MEANS})
    num["day"] = parsed.to_numpy()
    grouped = num.groupby("day", sort=True)
    daily = pd.concat([grouped[RETAIL_SUMS].sum(min_count=1), grouped[RETAIL_MEANS].mean()],
                      axis=1)  # fmt: skip
    per_day = grouped.size()
    notes.append(
        f"aggregated {len(df)} store x product rows to {len(daily)} days: sums of "
        f"{', '.join(RETAIL_SUMS)}; means of {', '.join(RETAIL_MEANS)}"
    )
    if per_day.nunique() > 1:
        notes.append(
            f"rows per day vary ({per_day.min()}..{per_day.max()}): daily sums are not "
            "comparable across days"
        )
    ts = daily.index.to_numpy().astype("datetime64[ns]")
    return build_series("retail", daily.reset_index(drop=True), path, target=target,
                        features=list(daily.columns), timestamps=ts, notes=notes)  # fmt: skip


SYNTHETIC_ROWS = 1000
SYNTHETIC_SEED = 0


@register_dataset("synthetic")
@seasonal(24)
def synthetic(*, data_dir: Path | None = None, target: str = "y") -> SeriesData:
    """Deterministic hourly series (seed 0, 1000 rows), no file needed.

    ``y = 10 + 0.005 t + 2 sin(2 pi t / 24) + sin(2 pi t / 168) + 0.3 e`` with
    ``lead`` = the daily cycle 3 hours ahead plus noise (a useful covariate) and ``noise`` a
    random walk (a useless one); ``e`` standard normal from ``numpy.random.default_rng(0)``.
    """
    rng = np.random.default_rng(SYNTHETIC_SEED)
    t = np.arange(SYNTHETIC_ROWS, dtype=np.float64)
    daily = np.sin(2 * np.pi * t / 24)
    y = 10 + 0.005 * t + 2 * daily + np.sin(2 * np.pi * t / 168)
    y += 0.3 * rng.standard_normal(t.size)
    lead = np.sin(2 * np.pi * (t + 3) / 24) + 0.1 * rng.standard_normal(t.size)
    noise = np.cumsum(rng.standard_normal(t.size)) * 0.1
    frame = pd.DataFrame({"y": y, "lead": lead, "noise": noise})
    ts = (np.datetime64("2020-01-01T00:00", "ns") + t.astype("timedelta64[h]")).astype(
        "datetime64[ns]"
    )
    notes = [f"synthetic: seed {SYNTHETIC_SEED}, {SYNTHETIC_ROWS} hourly rows"]
    return build_series("synthetic", frame, Path("<synthetic>"), target=target,
                        features=["y", "lead", "noise"], timestamps=ts,
                        notes=notes)  # fmt: skip

"""``SeriesData``: the one shape every dataset loader returns (the bottom of ``datasets``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SeriesData:
    """A parsed multivariate series, before splitting, scaling and windowing.

    ``values`` is float32 ``[T, C]``, finite, and ``values[:, 0]`` is the target
    (``columns[0]`` its name). ``split = (a, b)`` cuts it by *target row* into
    train ``[0, a)``, val ``[a, b)`` and test ``[b, T)``. ``timestamps`` (datetime64[ns],
    strictly increasing) may be ``None`` for a CSV without a date column. ``notes`` records
    what parsing and the gap policy did; it is logged with every run.

    ``target_valid`` (optional bool ``[T]``) is False on every row whose target value was
    *not observed* in the file (a gap, or a ``missing_value`` code) and was filled by the gap
    policy (see ``synprune.datasets.gaps``) so that it can serve as an *input*.
    ``prepare_windows`` drops every train, val and test window whose target rows include such
    a row, so no model is trained or scored on an invented target. ``None`` means every
    target was observed.

    ``season`` is the length of the seasonal cycle in rows (24 hourly, 7 daily, 5 trading days,
    52 weekly, 1 = none), used by the seasonal-naive reference and the MASE scale. ``None``
    (the default) infers it from ``timestamps`` (:func:`infer_season`; 1 without timestamps).
    """

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    timestamps: np.ndarray | None
    split: tuple[int, int]
    source: str
    notes: tuple[str, ...] = ()
    target_valid: np.ndarray | None = None
    season: int | None = None

    def __post_init__(self) -> None:
        v = self.values
        if not isinstance(v, np.ndarray) or v.ndim != 2 or v.dtype != np.float32:
            raise ValueError(f"{self.name}: values must be a float32 [T, C] array")
        t, c = v.shape
        if len(self.columns) != c:
            raise ValueError(f"{self.name}: {c} value columns but {len(self.columns)} names")
        finite = np.isfinite(v)
        if not finite.all():
            row, col = (int(i[0]) for i in np.nonzero(~finite))
            raise ValueError(
                f"{self.name}: column {self.columns[col]!r} row {row} (0-based) holds "
                f"{v[row, col]}; values must be finite"
            )
        a, b = self.split
        if not 0 < a < b < t:
            raise ValueError(f"{self.name}: split {self.split} must satisfy 0 < a < b < T={t}")
        if self.timestamps is not None:
            ts = self.timestamps
            if ts.shape != (t,) or ts.dtype != np.dtype("datetime64[ns]"):
                raise ValueError(f"{self.name}: timestamps must be datetime64[ns] of length {t}")
            if t > 1 and not (np.diff(ts) > np.timedelta64(0, "ns")).all():
                raise ValueError(f"{self.name}: timestamps must be strictly increasing")
        if self.target_valid is not None:
            tv = self.target_valid
            if tv.shape != (t,) or tv.dtype != np.bool_:
                raise ValueError(f"{self.name}: target_valid must be a bool array of length {t}")
        if self.season is None:
            object.__setattr__(self, "season", infer_season(self.timestamps))
        m = self.season
        if isinstance(m, bool) or not isinstance(m, int | np.integer) or not 1 <= m <= MAX_SEASON:
            raise ValueError(
                f"{self.name}: season must be an integer in [1, {MAX_SEASON}], got {m!r}"
            )
        object.__setattr__(self, "season", int(m))

    @property
    def target(self) -> str:
        return self.columns[0]

    def __len__(self) -> int:
        return int(self.values.shape[0])


MAX_SEASON = 10_000


def infer_season(timestamps: np.ndarray | None) -> int:
    """The seasonal cycle implied by the median time step (the ``frequency`` conventions of
    M4 and Hyndman & Athanasopoulos, FPP3 sec. 2.1: a day for sub-daily data, a week for daily
    data, a year beyond):

    * ``k`` minutes dividing a day (hourly, 30 min, ...): ``1440 / k`` rows per day (hourly 24);
    * daily: 7, or 5 when no row falls on a Saturday or Sunday (trading days);
    * weekly: 52; monthly (28-31 days): 12; quarterly (89-92 days): 4;
    * anything else, or no timestamps / fewer than 3: 1 (no season).
    """
    if timestamps is None or len(timestamps) < 3:
        return 1
    ts = np.asarray(timestamps).astype("datetime64[s]")
    step = float(np.median(np.diff(ts).astype(np.int64)))  # seconds
    if step <= 0:
        return 1
    if step < 86400:
        per_day = 86400 / step
        return round(per_day) if abs(per_day - round(per_day)) < 1e-9 else 1
    days = step / 86400
    if days == 1:
        weekday = (ts.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01: Thursday
        return 7 if np.isin(weekday, (5, 6)).any() else 5
    if days == 7:
        return 52
    if 28 <= days <= 31:
        return 12
    if 89 <= days <= 92:
        return 4
    return 1

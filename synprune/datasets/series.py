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
    """

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    timestamps: np.ndarray | None
    split: tuple[int, int]
    source: str
    notes: tuple[str, ...] = ()
    target_valid: np.ndarray | None = None

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

    @property
    def target(self) -> str:
        return self.columns[0]

    def __len__(self) -> int:
        return int(self.values.shape[0])

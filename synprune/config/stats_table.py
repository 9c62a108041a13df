"""The ``[stats]`` table of a sweep config: the pre-registered primary comparison.

    [stats]
    primary = ["synaptic", "dropout"]   # the two treatments compared first (a vs b)
    margin = 0.01                       # equivalence margin: ±1 % of the error

``synprune stats`` reads it from the config the sweep run logged (``--primary`` / ``--margin``
override it). Parsed on its own (:func:`parse_stats_table`), so stats can read it from a logged
config without validating the whole grid.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from synprune.errors import ConfigError

MARGIN_RANGE = (0.0, 0.5)
_NAME = re.compile(r"[A-Za-z0-9_+.\-\[\]=, ]{1,200}")


@dataclass(frozen=True)
class StatsOptions:
    """``primary``: (a, b) or None (stats then compares synaptic vs dropout when both exist);
    ``margin``: the equivalence margin as a fraction of the error."""

    primary: tuple[str, str] | None = None
    margin: float = 0.01


def check_primary(value: object, where: str) -> tuple[str, str]:
    """Two distinct non-empty treatment names; ConfigError naming ``where`` otherwise."""
    names = (
        [v.strip() for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []
    )
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and len(names) == 2
        and all(_NAME.fullmatch(v) for v in names)
        and names[0] != names[1]
    )
    if not ok:
        raise ConfigError(
            f"{where}={value!r} is invalid; allowed: two different treatment names, e.g. "
            '["synaptic", "dropout"] (a regularizer family, or an arm label)'
        )
    return names[0], names[1]


def check_margin(value: object, where: str) -> float:
    """A number in (0, 0.5); ConfigError naming ``where`` otherwise."""
    lo, hi = MARGIN_RANGE
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(float(value))
        or not lo < float(value) < hi
    ):
        raise ConfigError(
            f"{where}={value!r} is invalid; allowed: a number in ({lo:g}, {hi:g}), a fraction "
            "of the error (0.01 = ±1 %)"
        )
    return float(value)


def parse_stats_table(
    table: Mapping[str, Any] | None, err: Callable[[str], ConfigError]
) -> StatsOptions:
    """Validate a ``[stats]`` table (None or absent: the defaults)."""
    if table is None:
        return StatsOptions()
    if not isinstance(table, Mapping):
        raise err(f"[stats] must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - {"primary", "margin"})
    if unknown:
        raise err(f"[stats].{unknown[0]} is not a known key; allowed: primary, margin")
    try:
        primary = check_primary(table["primary"], "[stats].primary") if "primary" in table else None
        margin = check_margin(table.get("margin", 0.01), "[stats].margin")
    except ConfigError as exc:
        raise err(str(exc)) from None
    return StatsOptions(primary, margin)


def stats_options_from_text(text: str, source: str) -> StatsOptions:
    """The ``[stats]`` table of a config file's text (a logged config); errors name ``source``."""

    def err(msg: str) -> ConfigError:
        return ConfigError(f"{source}: {msg}")

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise err(f"not valid TOML: {exc}") from None
    return parse_stats_table(raw.get("stats"), err)

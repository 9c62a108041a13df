"""Arm labels: ``name[field=value,...]`` (DESIGN.md: the regularizer's name and its swept fields
in sorted order, e.g. ``synaptic[final_sparsity=0.5]``, ``dropout[p=0.1]``, ``none``).

Pure helpers: parse a label into its family (the regularizer) and fields, and find which fields
the arms of one family sweep (two or more distinct values). No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_LABEL = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*$")


@dataclass(frozen=True)
class Arm:
    """One parsed arm label: ``family`` (regularizer name) and its swept ``fields``."""

    label: str
    family: str
    fields: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def get(self, name: str) -> str | None:
        """The value text of one field (None when the arm does not set it)."""
        return dict(self.fields).get(name)


def parse_arm(label: str) -> Arm:
    """``"synaptic[final_sparsity=0.5,score=lamp]"`` -> Arm(family="synaptic", fields=(...)).

    A label without brackets is a family with no swept field. Raises ValueError naming the
    label when the bracket part is not a comma-separated list of ``field=value``.
    """
    text = str(label)
    m = _LABEL.match(text)
    if m is None:
        raise ValueError(f"arm label {text!r} is not of the form name[field=value,...]")
    family, inner = m.group(1), m.group(2)
    fields: list[tuple[str, str]] = []
    if inner is not None and inner.strip():
        for part in inner.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(
                    f"arm label {text!r}: {part.strip()!r} is not field=value "
                    f"(expected name[field=value,...])"
                )
            fields.append((key.strip(), value.strip()))
    return Arm(text, family, tuple(fields))


def as_number(value: str | None) -> float | None:
    """The value as a float when it is numeric, else None."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def swept_fields(labels: Iterable[str]) -> dict[str, list[str]]:
    """Per family, the fields that take two or more distinct values across its arms.

    Fields whose values are all numeric come first (they make an x axis), then the others,
    each list in name order: ``{"synaptic": ["final_sparsity", "score"], "dropout": ["p"]}``.
    Families with no swept field are left out.
    """
    seen: dict[str, dict[str, set[str]]] = {}
    for label in labels:
        arm = parse_arm(label)
        fam = seen.setdefault(arm.family, {})
        for k, v in arm.fields:
            fam.setdefault(k, set()).add(v)
    out: dict[str, list[str]] = {}
    for family, fields in sorted(seen.items()):
        swept = [k for k, vals in fields.items() if len(vals) >= 2]
        if swept:
            numeric = sorted(k for k in swept if all(as_number(v) is not None for v in fields[k]))
            out[family] = numeric + sorted(k for k in swept if k not in numeric)
    return out

"""Sparsity schedules (pure functions).

Both shapes rise from ``initial_sparsity`` at ``start_step`` to ``final_sparsity`` at
``end_step`` along a cubic in the progress ``p = clip((step - start) / (end - start), 0, 1)``:

* ``ease_in`` (the default; the formula in the code accompanying Vos et al. 2025,
  "Synaptic pruning ..."): ``s_i + (s_f - s_i) * p**3`` -- slow at first, most pruning late.
* ``ease_out`` (Zhu & Gupta 2017, "To prune, or not to prune: exploring the efficacy of pruning
  for model compression", arXiv:1710.01878, eq. 1): ``s_f + (s_i - s_f) * (1 - p)**3`` --
  prunes fast while redundancy is high, then slows down.

Before ``start_step`` both return ``initial_sparsity`` and after ``end_step`` ``final_sparsity``.
(``SynapticPruning`` additionally prunes nothing at all before ``start_step``.)
"""

from __future__ import annotations

from numbers import Integral, Real

from synprune.errors import FieldError
from synprune.regularizers.base import check_int, check_real

SCHEDULES: tuple[str, ...] = ("ease_in", "ease_out")


def validate_schedule(
    initial_sparsity: float,
    final_sparsity: float,
    start_step: int,
    end_step: int,
    schedule: str,
) -> tuple[float, float, int, int, str]:
    """Validate schedule arguments; ``FieldError`` names the argument, value and allowed range."""
    s_f = check_real("final_sparsity", final_sparsity, 0.0, 1.0, high_open=True)
    s_i = check_real("initial_sparsity", initial_sparsity, 0.0, s_f)
    start = check_int("start_step", start_step, 0)
    if not isinstance(end_step, Integral) or isinstance(end_step, bool) or end_step <= start:
        raise FieldError("end_step", end_step, f"an integer > start_step (= {start})")
    if schedule not in SCHEDULES:
        raise FieldError("schedule", schedule, f"one of {', '.join(SCHEDULES)}")
    return s_i, s_f, start, int(end_step), schedule


def cubic_sparsity(
    step: float,
    initial_sparsity: float,
    final_sparsity: float,
    start_step: int,
    end_step: int,
    schedule: str = "ease_in",
) -> float:
    """Target sparsity at ``step`` (see module docstring for both formulas and sources).

    Validated: ``final_sparsity`` in [0, 1), ``initial_sparsity`` in [0, final_sparsity],
    integers ``0 <= start_step < end_step``, ``schedule`` in ``("ease_in", "ease_out")``.
    """
    s_i, s_f, start, end, schedule = validate_schedule(
        initial_sparsity, final_sparsity, start_step, end_step, schedule
    )
    if not isinstance(step, Real) or isinstance(step, bool):
        raise FieldError("step", step, "a real number")
    return scheduled_sparsity(float(step), s_i, s_f, start, end, schedule)


def scheduled_sparsity(
    step: float, s_i: float, s_f: float, start: int, end: int, schedule: str
) -> float:
    """:func:`cubic_sparsity` for arguments already validated by :func:`validate_schedule`
    (a pruner validates them once at construction and calls this every step)."""
    p = min(max((step - start) / (end - start), 0.0), 1.0)
    if schedule == "ease_in":
        # paper code: s_i + (s_f - s_i) * p^3
        s = s_i + (s_f - s_i) * p**3
    else:
        # Zhu & Gupta 2017, eq. (1): s_t = s_f + (s_i - s_f) * (1 - p)^3
        s = s_f + (s_i - s_f) * (1.0 - p) ** 3
    # guard float round-off so the result never leaves [s_i, s_f]
    return min(max(s, s_i), s_f)

"""Plain-words answers for the report's first paragraph and the console: which arm is best,
and is any difference significant (pure functions of a :class:`StatsResult`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synprune.stats.analysis import StatsResult

TIE_TOL = 1e-9


def fmt(v: object, digits: int = 4) -> str:
    """Compact number text: p-values and small numbers in scientific notation, NaN as '–'."""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        if math.isnan(f):
            return "–"
        if math.isinf(f):
            return "∞" if f > 0 else "−∞"
        if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
            return f"{f:.3g}"
        return f"{f:.{digits}g}" if abs(f) < 1 else f"{f:.{digits}f}".rstrip("0").rstrip(".")
    return str(v).replace("|", "\\|")


def markdown_table(df: pd.DataFrame, index: bool = False, max_rows: int | None = None) -> str:
    """A GitHub-flavoured markdown table (no external dependency)."""
    if index:
        df = df.reset_index()
    shown = df if max_rows is None else df.head(max_rows)
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    more = [f"\n… {len(df) - len(shown)} more rows in the CSV."] if len(shown) < len(df) else []
    return "\n".join([head, sep, *body, *more])


def best(res: StatsResult) -> tuple[list[str], float]:
    """The treatments sharing the lowest average rank, and that rank."""
    r = res.avg_ranks
    low = float(r.min())
    return [str(n) for n, v in r.items() if abs(float(v) - low) <= TIE_TOL], low


def nemenyi_pairs(res: StatsResult) -> list[tuple[str, str, float]]:
    """Pairs the Nemenyi test finds different at α (p <= α), best first."""
    if res.nemenyi is None:
        return []
    names = [str(n) for n in res.avg_ranks.index]
    p = res.nemenyi
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            v = float(p.loc[a, b])
            if np.isfinite(v) and v <= res.alpha:
                out.append((a, b, v))
    return out


def holm_pairs(res: StatsResult) -> list[tuple[str, str, float]]:
    """Pairs the Holm-corrected Wilcoxon tests reject at α."""
    w = res.wilcoxon
    hit = w[w["reject_holm"].astype(bool)]
    return [(str(r.arm_a), str(r.arm_b), float(r.p_holm)) for r in hit.itertuples()]


def _pairs(pairs: list[tuple[str, str, float]], limit: int = 4) -> str:
    shown = ", ".join(f"`{a}` vs `{b}` (p = {fmt(p)})" for a, b, p in pairs[:limit])
    return shown + (f" and {len(pairs) - limit} more (tables below)" if len(pairs) > limit else "")


def omnibus_sentence(res: StatsResult) -> str:
    """One sentence on the Friedman / Iman-Davenport test (or why there is none)."""
    o, what = res.overall, _what(res)
    if o is None:
        return (
            f"Friedman does not apply (k = 2): with two {what} the Wilcoxon signed-rank test "
            "decides."
        )
    if o.degenerate:
        sig = "significant" if o.p <= res.alpha else "not significant"
        return (
            f"All N = {o.n_blocks} blocks rank the {o.k} {what} in the same order, so the "
            f"Friedman statistic sits at its maximum and the Iman–Davenport F is undefined "
            f"(division by zero; not reported as a p-value). The exact chance of such agreement "
            f"when all orderings are equally likely is p = {fmt(o.p_exact)}: {sig} at "
            f"α = {res.alpha}."
        )
    if not np.isfinite(o.p_f):
        return f"The Friedman test is not computable: {o.note}."
    verb = "rejects" if o.p_f <= res.alpha else "does not reject"
    return (
        f"The Friedman test {verb} that all {what} are equivalent (Iman–Davenport "
        f"F = {fmt(o.f_stat)}, p = {fmt(o.p_f)}; α = {res.alpha})."
    )


def _what(res: StatsResult) -> str:
    return "families" if res.selection is not None else "arms"


def ranking_answer(res: StatsResult) -> list[str]:
    """Best treatment (ties shared) and significance in words: [best, "", significant]."""
    d = res.design
    names, rank = best(res)
    what = _what(res)
    if len(names) == 1:
        head = f"**Best:** `{names[0]}` has the best average rank ({rank:.2f}"
    else:
        head = (
            f"**Best:** no single best — {', '.join(f'`{n}`' for n in names)} tie for the best "
            f"average rank ({rank:.2f}"
        )
    head += f"; N = {d.n_blocks} blocks, k = {d.k} {what}"
    if res.selection is not None:
        on = res.selection.on
        head += f", each family represented per block by its arm with the lowest mean {on}"
    head += ")."
    nem, hol = nemenyi_pairs(res), holm_pairs(res)
    post = []
    if not nem and not hol:
        post.append(
            f"**No pair of {what} differs significantly** (neither Nemenyi nor Wilcoxon–Holm "
            f"at α = {res.alpha})."
        )
    else:
        if res.nemenyi is not None:
            post.append(
                f"Nemenyi (CD = {fmt(res.overall.cd) if res.overall else '–'}) finds "
                + (
                    f"{len(nem)} significant pair(s): {_pairs(nem)}."
                    if nem
                    else "no significant pair."
                )
            )
        post.append(
            "Wilcoxon–Holm finds "
            + (f"{len(hol)} significant pair(s): {_pairs(hol)}." if hol else "no significant pair.")
        )
        o = res.overall
        if o is not None and np.isfinite(o.p) and o.p > res.alpha:
            post.append(
                "The omnibus test did not reject, so read these pairwise results with caution."
            )
    return [head, "", " ".join(["**Significant?**", omnibus_sentence(res), *post])]


def console_line(res: StatsResult) -> str:
    """One line for the terminal: design, tests, best (ties named as ties), significant pairs."""
    d, o = res.design, res.overall
    if o is None:
        tests = "k = 2: Wilcoxon only"
    elif o.degenerate:
        tests = (
            f"Friedman p = {o.p_chi2:.3g}; every block ranks identically: Iman-Davenport F "
            f"undefined, exact p = {o.p_exact:.3g}"
        )
    else:
        tests = f"Friedman p = {o.p_chi2:.3g}, Iman-Davenport p = {o.p_f:.3g}"
    names, rank = best(res)
    top = (
        f"best average rank: {names[0]} ({rank:.2f})"
        if len(names) == 1
        else f"best average rank: tie between {', '.join(names)} ({rank:.2f})"
    )
    n_sig = len({frozenset((a, b)) for a, b, _ in (*nemenyi_pairs(res), *holm_pairs(res))})
    sig = f"{n_sig} significant pair(s)" if n_sig else "no pair differs significantly"
    return (
        f"{d.n_blocks} blocks x {d.k} {_what(res)} ({len(d.dropped)} dropped); {tests}; {top}; "
        f"{sig}"
    )

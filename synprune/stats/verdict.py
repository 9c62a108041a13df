"""report.md's verdict block and the sections behind it: effects, primary comparison,
per-dataset Diebold–Mariano tests, reference forecasts (pure text from a StatsResult)."""

from __future__ import annotations

from synprune.stats.analysis import StatsResult
from synprune.stats.answers import Answers
from synprune.stats.effects import CONF
from synprune.stats.primary import DECIDE_AT, power_sentence, verdict_sentence
from synprune.stats.summary import markdown_table, ranking_answer

PAPER = "paper"


def title_line(res: StatsResult) -> str:
    """``# synprune stats: test_mae`` plus the protocol (marked when it is the paper's) and the
    stopping rule, when the rows carry those spec params."""
    a = res.answers
    title = f"# synprune stats: {res.metric}"
    if a is None or not a.params:
        return title
    extra = []
    protocols = a.params.get("protocol", ())
    if protocols:
        mark = " (the paper code's protocol, not leak-free)" if PAPER in protocols else ""
        extra.append(f"protocol {', '.join(protocols)}{mark}")
    stopping = a.params.get("train.stopping", ())
    if stopping:
        extra.append(f"stopping rule {', '.join(stopping)}")
    head = "PAPER PROTOCOL — " if PAPER in protocols else ""
    return f"{title} — {head}{'; '.join(extra)}"


def _seeds_caveat(a: Answers) -> str:
    if a.min_seeds >= 3:
        return ""
    return (
        f" Some cells hold only {a.min_seeds} seed(s): intervals that resample seeds rest on "
        f"fewer than 3 seeds there and are rough."
    )


def lead_sentence(res: StatsResult) -> str | None:
    """How large the best treatment's lead is, in the one measure the report uses for effect
    sizes: the geometric-mean error ratio with its bootstrap interval (effects.csv), against
    `none` and the primary comparator where the effects table has them."""
    a = res.answers
    names = [str(n) for n in res.avg_ranks.index[res.avg_ranks == res.avg_ranks.min()]]
    if a is None or a.effects is None or len(names) != 1:
        return None
    rows = a.effects[a.effects["family"] == names[0]]
    if rows.empty:
        return None
    parts = [
        f"vs `{r.versus}` {r.gmean_ratio:.4f} (95 % CI {r.ci_low:.3f}–{r.ci_high:.3f})"
        for r in rows.itertuples()
    ]
    return (
        f"**How large?** `{names[0]}`'s error ratio (geometric mean over blocks, as in "
        f'"Effect sizes" below): ' + "; ".join(parts) + " (< 1: lower error)."
    )


def verdict_block(res: StatsResult) -> list[str]:
    """Plain words, in order: primary answer, ranking, per dataset, references, power."""
    a = res.answers
    lines = ["## Verdict", ""]
    if a is not None and a.primary is not None:
        lines += [f"**Primary comparison (pre-registered):** {verdict_sentence(a.primary)}", ""]
    elif a is not None:
        why = next((n for n in a.notes if "primary" in n), "no primary pair given")
        lines += [
            f"**Primary comparison:** none — {why.removeprefix('no primary comparison: ')}.",
            "",
        ]
    head, _, sig = ranking_answer(res)
    lines += [head, ""]
    lead = lead_sentence(res)
    lines += [lead, ""] if lead else []
    lines += [sig, ""]
    if a is None:
        return lines
    if a.primary is not None:
        pa, pb = a.primary.a, a.primary.b
        if a.dm is not None and a.dm_lines:
            lines += [f"**Per dataset** (`{pa}` vs `{pb}`, test windows):", ""]
            lines += [f"- {ln}" for ln in a.dm_lines] + [""]
        else:
            lines += [
                f"**Per dataset:** no per-window test predictions in these rows (older store, "
                f"or frozen rows without predictions.csv.gz): the Diebold–Mariano tests of "
                f"`{pa}` vs `{pb}` are skipped.",
                "",
            ]
    if a.reference_lines:
        lines += ["**References** (blocks where the seed-averaged test MAE is lower):", ""]
        lines += [f"- {ln}" for ln in a.reference_lines] + [""]
    if a.primary is not None:
        lines += [f"**Power:** {power_sentence(a.primary)}", ""]
    if res.budget is not None:
        lines += [f"**Tuning budget?** {res.budget.summary(res.alpha)}", ""]
    elif a.budget_note:
        lines += [f"**Tuning budget?** {a.budget_note[0].upper()}{a.budget_note[1:]}.", ""]
    return lines


def effects_section(res: StatsResult) -> list[str]:
    a = res.answers
    if a is None or a.effects is None:
        return []
    level = f"{100 * CONF:g} %"
    return [
        "## Effect sizes",
        "",
        f"`gmean_ratio`: geometric mean over blocks of `{res.metric}` of the treatment divided by "
        f"that of `versus` in the same block (each cell the {res.aggregate} over seeds; < 1: "
        f"lower error). `ci_low`–`ci_high`: {level} percentile interval from a hierarchical "
        f"bootstrap ({a.n_boot} resamples, seed {a.boot_seed}) that resamples datasets, then "
        "blocks within them, then seeds within blocks (the same seeds for both treatments)"
        + (", the arms selected on validation held fixed" if res.selection else "")
        + ". `win_rate`: share of blocks with the lower error (ties count ½), its interval "
        f"from the same resamples.{_seeds_caveat(a)} All of it in effects.csv.",
        "",
        markdown_table(a.effects),
        "",
    ]


def primary_section(res: StatsResult) -> list[str]:
    a = res.answers
    if a is None or a.primary is None:
        return []
    p = a.primary
    return [
        f"## Primary comparison: `{p.a}` vs `{p.b}`",
        "",
        f"On the per-block log ratios log({p.a} / {p.b}): two-sided Wilcoxon signed-rank test "
        "(zero differences split); TOST equivalence (two one-sided t-tests against "
        f"log(1 − {p.margin:g}) and log(1 + {p.margin:g}), p = the larger); Bayesian "
        f"signed-rank test (baycomp, {p.bayes_samples} posterior samples, seed 0) with a region "
        f"of practical equivalence of ±log(1 + {p.margin:g}): `p_better` = P(`{p.a}`'s error is "
        f"lower by more than the margin), `p_equivalent`, `p_worse`; a verdict needs "
        f"{DECIDE_AT:g}. Power: `mde_pct` = minimum detectable effect at 80 % power, "
        "α = 0.05, (z₀.₉₇₅ + z₀.₈) · SD / √N on the log scale, as % of the error; "
        "`blocks_needed` = ((z₀.₉₇₅ + z₀.₈) · SD / observed)² independent blocks. In "
        "primary.csv.",
        "",
        markdown_table(p.table()),
        "",
    ]


def dm_section(res: StatsResult) -> list[str]:
    a = res.answers
    if a is None or a.dm is None or a.dm.empty:
        return []
    return [
        "## Per-dataset Diebold–Mariano tests",
        "",
        "Per block, the predictions of every seed are averaged per test window and step (the "
        "seed ensemble), the absolute error is averaged over the horizon steps of each window, "
        "and the loss differential (a − b) is tested with the Diebold–Mariano test, Newey–West "
        "variance and the Harvey–Leybourne–Newbold small-sample correction (statsmodels "
        "`diebold_mariano_test`, `harvey_adj=True`). Negative `dm_stat`: `arm_a` is closer. "
        "In dm.csv.",
        "",
        markdown_table(a.dm, max_rows=120),
        "",
    ]


def references_section(res: StatsResult) -> list[str]:
    a = res.answers
    if a is None or a.references is None:
        return []
    return [
        "## Reference forecasts",
        "",
        "Per dataset, reference (`naive_mae`: persistence; `snaive_mae`: seasonal naive; "
        "`linear_mae`: linear) and treatment: blocks where the seed-averaged test MAE is below "
        "the reference's, and the median ratio MAE / reference. In references.csv.",
        "",
        markdown_table(a.references, max_rows=120),
        "",
    ]

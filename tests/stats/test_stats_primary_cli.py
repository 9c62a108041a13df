"""`synprune stats --from-csv` end to end with per-window predictions: effects.csv,
primary.csv and dm.csv with the right values, frozen predictions that rerun identically, the
[stats] table of a config, and bad input refused before any work."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as ss

from synprune.cli.main import main
from synprune.config.stats_table import StatsOptions, parse_stats_table
from synprune.errors import ConfigError

NOISE = {"none": 1.0, "dropout": 0.9, "synaptic": 0.88}


def write_study(folder: Path) -> tuple[Path, pd.DataFrame]:
    """trials.csv + predictions.csv beside it: 3 datasets x 2 models, 3 arms, 3 seeds, 30
    windows of one step; each trial's test_mae is the MAE of its predictions."""
    rng = np.random.default_rng(4)
    trials, preds = [], []
    for ds, model in itertools.product(("d1", "d2", "d3"), ("lstm", "gru")):
        target = rng.normal(50, 5, 30)
        naive = float(rng.uniform(0.9, 1.1))
        for arm, scale in NOISE.items():
            for seed in range(3):
                pred = target + rng.normal(0, scale, 30)
                mae = float(np.mean(np.abs(target - pred)))
                trials.append((ds, model, 7, 1, arm, arm, seed, mae, naive))
                preds += [(ds, model, 7, 1, arm, seed, w, 0, target[w], pred[w], target[w] + 1)
                          for w in range(30)]  # fmt: skip
    cols = ["dataset", "model", "seq_len", "horizon", "regularizer", "arm", "seed", "test_mae"]
    df = pd.DataFrame(trials, columns=[*cols, "naive_mae"])
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "trials.csv", index=False)
    pcols = ["dataset", "model", "seq_len", "horizon", "arm", "seed", "window", "step"]
    pd.DataFrame(preds, columns=[*pcols, "target", "prediction", "naive"]).to_csv(
        folder / "predictions.csv", index=False
    )
    return folder / "trials.csv", df


def test_effects_primary_and_dm_from_csv_with_predictions(tmp_path: Path) -> None:
    csv, df = write_study(tmp_path / "in")
    out = tmp_path / "out"
    args = ["stats", "--from-csv", str(csv), "--bootstrap", "300", "--out", str(out)]
    assert main(args) == 0
    cells = df.groupby(["dataset", "model", "arm"])["test_mae"].mean().unstack("arm")
    log_sd = np.log(cells["synaptic"] / cells["dropout"]).to_numpy()

    prim = pd.read_csv(out / "primary.csv")
    need = ["a", "b", "blocks", "gmean_ratio", "wilcoxon_p", "tost_p", "margin", "p_better",
            "p_equivalent", "p_worse", "mde_pct", "blocks_needed"]  # fmt: skip
    assert set(need) <= set(prim.columns)
    r = prim.iloc[0]
    assert (r["a"], r["b"], r["blocks"], r["margin"]) == ("synaptic", "dropout", 6, 0.01)
    assert r["gmean_ratio"] == pytest.approx(math.exp(log_sd.mean()), rel=1e-8)
    ref_p = ss.wilcoxon(np.log(cells["synaptic"]), np.log(cells["dropout"]), zero_method="zsplit")
    assert r["wilcoxon_p"] == pytest.approx(ref_p.pvalue, rel=1e-8)
    assert r["p_better"] + r["p_equivalent"] + r["p_worse"] == pytest.approx(1.0)
    z = ss.norm.ppf(0.975) + ss.norm.ppf(0.8)
    mde = 100 * math.expm1(z * log_sd.std(ddof=1) / math.sqrt(6))
    assert r["mde_pct"] == pytest.approx(mde, rel=1e-6)

    eff = pd.read_csv(out / "effects.csv").set_index(["family", "versus"])
    assert {"gmean_ratio", "ci_low", "ci_high", "win_rate", "blocks"} <= set(eff.columns)
    assert set(eff.index) == {("dropout", "none"), ("synaptic", "none"), ("none", "dropout"),
                              ("synaptic", "dropout")}  # fmt: skip
    e = eff.loc[("synaptic", "none")]
    want = math.exp(np.log(cells["synaptic"] / cells["none"]).mean())
    assert e["gmean_ratio"] == pytest.approx(want, rel=1e-8)
    assert e["ci_low"] <= e["gmean_ratio"] <= e["ci_high"] < 1.0  # 12 % less noise: clear
    assert e["win_rate"] == 1.0 and e["blocks"] == 6 and e["datasets"] == 3

    dm = pd.read_csv(out / "dm.csv")
    assert len(dm) == 6 and set(dm["arm_a"]) == {"synaptic"} and (dm["windows"] == 30).all()
    report = (out / "report.md").read_text()
    verdict = report.split("## Ranking")[0]
    order = ["**Primary comparison (pre-registered):** `synaptic` vs `dropout`", "**Best:**",
             "**Per dataset**", "- d1: `synaptic` has the lower test MAE", "**References**",
             "**Power:** With 6 blocks this study can detect effects of"]  # fmt: skip
    positions = [verdict.index(s) for s in order]
    assert positions == sorted(positions)
    assert (out / "predictions.csv.gz").is_file()

    # the frozen rows (trials.csv + predictions.csv.gz) give the same answers
    again = tmp_path / "again"
    rerun = ["stats", "--from-csv", str(out / "trials.csv"), "--bootstrap", "300"]
    assert main([*rerun, "--out", str(again)]) == 0
    for name in ("effects.csv", "primary.csv", "dm.csv", "references.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_rel_mae_metric_and_explicit_primary(tmp_path: Path) -> None:
    csv, _ = write_study(tmp_path / "in")
    out = tmp_path / "out"
    args = ["stats", "--from-csv", str(csv), "--metric", "rel_mae", "--primary", "dropout,none"]
    assert main([*args, "--margin", "0.05", "--bootstrap", "100", "--out", str(out)]) == 0
    prim = pd.read_csv(out / "primary.csv").iloc[0]
    assert (prim["a"], prim["b"], prim["margin"]) == ("dropout", "none", 0.05)
    rows = pd.read_csv(out / "trials.csv")
    none = rows[rows["arm"] == "none"]
    assert np.allclose(none["rel_mae"], 1.0)
    d = rows[(rows["arm"] == "dropout")].merge(
        none, on=["dataset", "model", "seed"], suffixes=("", "_n")
    )
    assert np.allclose(d["rel_mae"], d["test_mae"] / d["test_mae_n"])
    assert "# synprune stats: rel_mae" in (out / "report.md").read_text()


def test_bad_primary_margin_and_missing_metric_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    csv, _ = write_study(tmp_path / "in")
    out = tmp_path / "out"
    base = ["stats", "--from-csv", str(csv), "--out", str(out)]
    assert main([*base, "--primary", "synaptic,lasso"]) == 2
    assert "lasso is not a treatment" in capsys.readouterr().err
    assert main([*base, "--primary", "synaptic"]) == 2
    assert "--primary" in capsys.readouterr().err
    assert main([*base, "--margin", "0.7"]) == 2
    assert "--margin=0.7 is invalid; allowed: a number in (0, 0.5)" in capsys.readouterr().err
    assert main([*base, "--metric", "mase"]) == 2
    err = capsys.readouterr().err
    assert "unknown --metric 'mase'" in err and "predates it" in err
    assert not out.exists()  # refused before anything was written


def test_stats_table_of_a_config() -> None:
    def err(msg: str) -> ConfigError:
        return ConfigError(f"x.toml: {msg}")

    ok = parse_stats_table({"primary": ["synaptic", "dropout"], "margin": 0.02}, err)
    assert ok == StatsOptions(("synaptic", "dropout"), 0.02)
    assert parse_stats_table(None, err) == StatsOptions(None, 0.01)
    for bad, words in (
        ({"primary": ["synaptic"]}, "x.toml: [stats].primary=['synaptic'] is invalid"),
        ({"primary": ["a", "a"]}, "two different treatment names"),
        ({"margin": 0}, "x.toml: [stats].margin=0 is invalid; allowed: a number in (0, 0.5)"),
        ({"margin": True}, "[stats].margin=True is invalid"),
        ({"primery": ["a", "b"]}, "[stats].primery is not a known key; allowed: primary, margin"),
    ):
        with pytest.raises(ConfigError) as exc:
            parse_stats_table(bad, err)
        assert words in str(exc.value)


def test_sweep_config_accepts_a_stats_table(tmp_path: Path) -> None:
    from synprune.config.loader import load_config

    root = Path(__file__).resolve().parents[2]
    text = (root / "configs" / "smoke.toml").read_text()
    cfg = tmp_path / "with_stats.toml"
    cfg.write_text(text + '\n[stats]\nprimary = ["synaptic", "none"]\nmargin = 0.02\n')
    assert load_config(cfg).stats == StatsOptions(("synaptic", "none"), 0.02)
    cfg.write_text(text + '\n[stats]\nprimary = "synaptic"\n')
    with pytest.raises(ConfigError, match=r"with_stats.toml: \[stats\].primary='synaptic'"):
        load_config(cfg)

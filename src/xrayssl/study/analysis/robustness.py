"""How robust a study's ranking is: agreement of seeds on the order of recipes, sensitivity to the recipe, the
effect of an imbalanced pretraining pool, and the original study's claims about them as numbers with intervals."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from xrayssl.catalog import N_BOOT
from xrayssl.metrics import mean_ci
from xrayssl.study.analysis.frame import GROUP


def ranking_stability(frame: pd.DataFrame) -> pd.DataFrame:
    """How much seeds agree on the order of recipes: mean pairwise Spearman correlation and Kendall's W."""
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        table = g.pivot_table(index="recipe", columns="seed", values="test_score").dropna()
        if table.shape[1] < 2 or table.shape[0] < 3:
            continue
        rhos = [stats.spearmanr(table[a], table[b]).statistic for a, b in itertools.combinations(table.columns, 2)]
        ranks = table.rank(axis=0).to_numpy()
        m, n = ranks.shape[1], ranks.shape[0]
        w = 12 * ((ranks.sum(1) - m * (n + 1) / 2) ** 2).sum() / (m**2 * (n**3 - n))
        out.append(
            {
                **dict(zip(GROUP, key)),
                "n_recipes": n,
                "n_seeds": m,
                "spearman_mean": float(np.mean(rhos)),
                "spearman_min": float(np.min(rhos)),
                "kendall_w": float(w),
            }
        )
    return pd.DataFrame(out)


def sensitivity(frame: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Spread of recipe scores per method: SD across recipes of the seed-mean test AUROC, with a 95 %
    interval from resampling seeds; the range (best minus worst recipe) alongside."""
    rng = np.random.default_rng(seed)
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        table = g.pivot_table(index="recipe", columns="seed", values="test_score").dropna()
        if table.shape[0] < 2:
            continue
        means = table.mean(axis=1)
        boot = _boot_sd(table.to_numpy(), n_boot, rng)
        out.append(
            {
                **dict(zip(GROUP, key)),
                "sd": float(means.std(ddof=1)),
                "lo": float(np.quantile(boot, 0.025)) if boot is not None else None,
                "hi": float(np.quantile(boot, 0.975)) if boot is not None else None,
                "range": float(means.max() - means.min()),
                "n_recipes": table.shape[0],
                "n_seeds": table.shape[1],
            }
        )
    return pd.DataFrame(out)


def _boot_sd(table: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray | None:
    if table.shape[1] < 2:
        return None
    picks = rng.integers(0, table.shape[1], size=(n_boot, table.shape[1]))
    return np.array([table[:, p].mean(1).std(ddof=1) for p in picks])


def imbalance_effect(frame: pd.DataFrame) -> pd.DataFrame:
    """Test AUROC per pretraining abnormal fraction and method (over recipes and seeds), and the change from
    the most balanced pool to the least balanced one, paired by recipe and seed."""
    out = []
    keys = [c for c in ("body_part", "start", "method") if c in frame]  # within each start, where inits vary
    for key, g in frame.groupby(keys, sort=False):
        where = dict(zip(keys, key, strict=True))
        shares = g.groupby("abnormal_fraction")["abnormal_share"].mean()
        if len(shares) < 2:
            continue
        balanced = (shares - 0.5).abs().idxmin()
        skewed = (shares - 0.5).abs().idxmax()
        for fraction, share in shares.items():
            m, lo, hi = mean_ci(g[g["abnormal_fraction"] == fraction]["test_score"])
            out.append(
                {
                    **where,
                    "abnormal_fraction": fraction,
                    "abnormal_share": share,
                    "test_score": m,
                    "lo": lo,
                    "hi": hi,
                    "contrast": None,
                }
            )
        a = g[g["abnormal_fraction"] == balanced].set_index(["recipe", "seed"])["test_score"]
        b = g[g["abnormal_fraction"] == skewed].set_index(["recipe", "seed"])["test_score"]
        diff = (b - a).dropna()
        m, lo, hi = mean_ci(diff)
        out.append(
            {
                **where,
                "abnormal_fraction": f"{skewed} vs {balanced}",
                "abnormal_share": shares[skewed],
                "test_score": m,
                "lo": lo,
                "hi": hi,
                "contrast": "change",
            }
        )
    return pd.DataFrame(out)


def _verdict(lo: float | None, hi: float | None, sign: int) -> str:
    """'supported' when the interval is entirely on the claimed side of zero, 'contradicted' when entirely on
    the other, else 'inconclusive'."""
    if lo is None or hi is None:
        return "inconclusive (needs two or more seeds)"
    if sign * lo > 0 and sign * hi > 0:
        return "supported"
    if sign * lo < 0 and sign * hi < 0:
        return "contradicted"
    return "inconclusive"


def claims(frame: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> list[dict[str, Any]]:
    """The original study's conclusions about SimCLR and BYOL, each as a number with an interval (``n_boot``:
    the study's bootstrap resamples)."""
    out: list[dict[str, Any]] = []
    if not {"simclr", "byol"} <= set(frame.get("method", [])):
        return out
    rng = np.random.default_rng(seed)
    for part, g in frame.groupby("body_part", sort=False):
        out += _sensitivity_claim(part, g, n_boot, rng)
        out += _imbalance_claims(part, g)
    return out


def _sensitivity_claim(part: str, g: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """SimCLR's spread over recipes minus BYOL's, on the first pool, with an interval from resampling seeds."""
    base = g[g["abnormal_fraction"] == g["abnormal_fraction"].iloc[0]]
    tables = {
        m: base[base["method"] == m].pivot_table(index="recipe", columns="seed", values="test_score").dropna()
        for m in ("simclr", "byol")
    }
    common = sorted(set(tables["simclr"].columns) & set(tables["byol"].columns))
    if len(tables["simclr"]) < 2 or len(tables["byol"]) < 2 or not common:
        return []
    s, b = tables["simclr"][common].to_numpy(), tables["byol"][common].to_numpy()
    diff = s.mean(1).std(ddof=1) - b.mean(1).std(ddof=1)
    lo = hi = None
    if len(common) >= 2:
        picks = rng.integers(0, len(common), size=(n_boot, len(common)))
        boot = np.array([s[:, p].mean(1).std(ddof=1) - b[:, p].mean(1).std(ddof=1) for p in picks])
        lo, hi = float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))
    return [
        {
            "body_part": part,
            "claim": "SimCLR is more sensitive to the augmentation recipe than BYOL",
            "measure": "SD of recipe AUROCs, SimCLR minus BYOL",
            "value": float(diff),
            "lo": lo,
            "hi": hi,
            "verdict": _verdict(lo, hi, +1),
        }
    ]


def _imbalance_claims(part: str, g: pd.DataFrame) -> list[dict[str, Any]]:
    """SimCLR loses AUROC on an imbalanced pool, BYOL does not: the change from the balanced pool to the skewed."""
    imb = imbalance_effect(g)
    if not len(imb):
        return []
    if "start" in imb:  # the seed study's claims are about one start: the study's first (with inits varied)
        imb = imb[imb["start"] == imb["start"].iloc[0]]
    out = []
    ch = imb[imb["contrast"] == "change"].set_index("method")
    for method, sign, text in (
        ("simclr", -1, "SimCLR loses AUROC when the unlabelled pool is imbalanced"),
        ("byol", 0, "BYOL is robust to an imbalanced unlabelled pool"),
    ):
        if method not in ch.index:
            continue
        r = ch.loc[method]
        if sign:
            verdict = _verdict(r["lo"], r["hi"], sign)
        elif r["lo"] is None:
            verdict = "inconclusive (needs two or more seeds)"
        else:  # robust: the interval excludes a loss of 0.02 AUROC or more
            verdict = "supported" if r["lo"] > -0.02 else "not shown"
        out.append(
            {
                "body_part": part,
                "claim": text,
                "measure": f"AUROC change, pool {r['abnormal_fraction']}",
                "value": float(r["test_score"]),
                "lo": r["lo"],
                "hi": r["hi"],
                "verdict": verdict,
            }
        )
    return out

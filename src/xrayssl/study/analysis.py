"""What a study's finished runs say: leaderboard, augmentation effects, stability, sensitivity, imbalance.

Recipes are ranked on the validation AUROC; test AUROCs are only reported. Intervals are 95 %: over seeds
(t distribution) for leaderboard means and one-at-a-time contrasts, from the regression's residuals for
factorial effects, and from resampling seeds for sensitivity.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from xrayssl.metrics import auroc, mean_ci
from xrayssl.study.store import Store

GROUP = ["body_part", "abnormal_fraction", "method"]
# study meta key: the known truth of a study's data (augmentation -> {"sign": +1/-1/0, "factor": why}), written by
# whoever made the data (the demo, for its planted nuisance factors) and read by the report's planted_check
EXPECTED_EFFECTS_KEY = "expected_effects"


def ssl_frame(store: Store) -> pd.DataFrame:
    rows = []
    for r in store.runs(kind="ssl", status="done"):
        p, res = r["params"], r["result"]
        pool = (res.get("pretrain") or {}).get("pool") or {}
        rows.append(
            {
                "run_id": r["id"],
                "method": p["method"],
                "recipe": p["recipe"],
                "parts": tuple(p["parts"]),
                "seed": p["seed"],
                "abnormal_fraction": "as is" if p["abnormal_fraction"] is None else f"{p['abnormal_fraction']:g}",
                "abnormal_share": pool.get("abnormal_share_used", np.nan),
                "body_part": p["body_part"] or "all",
                "val_auroc": res["val_auroc"],
                "test_auroc": res["test_auroc"],
                "test_auroc_ci": res["test_auroc_ci"],
                "seconds": res.get("seconds"),
                "run": res.get("run"),
            }
        )
    return pd.DataFrame(rows)


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (body part, abnormal fraction, method, recipe), best validation AUROC first."""
    if frame.empty:
        return pd.DataFrame()
    out = []
    for key, g in frame.groupby([*GROUP, "recipe"], sort=False):
        m, lo, hi = mean_ci(g["test_auroc"])
        if len(g) == 1 and g["test_auroc_ci"].iloc[0]:  # one seed: the run's own patient-bootstrap interval
            lo, hi = g["test_auroc_ci"].iloc[0]
        lo, hi = (None if v is None else min(1.0, max(0.0, v)) for v in (lo, hi))  # AUROC lives in [0, 1]
        out.append(
            {
                **dict(zip([*GROUP, "recipe"], key)),
                "n_seeds": len(g),
                "val_auroc": g["val_auroc"].mean(),
                "test_auroc": m,
                "test_lo": lo,
                "test_hi": hi,
                "test_sd": g["test_auroc"].std(ddof=1) if len(g) > 1 else np.nan,
            }
        )
    board = pd.DataFrame(out).sort_values([*GROUP, "val_auroc"], ascending=[True, True, True, False])
    board["rank"] = board.groupby(GROUP).cumcount() + 1  # rank by validation AUROC within each method
    return board.reset_index(drop=True)


def chosen(board: pd.DataFrame) -> pd.DataFrame:
    """A leaderboard's rows chosen on validation: rank 1 per (body part, abnormal fraction, method)."""
    return board[board["rank"] == 1].reset_index(drop=True) if len(board) else board


def best_recipes(frame: pd.DataFrame) -> pd.DataFrame:
    """The recipe chosen on validation per (body part, abnormal fraction, method)."""
    return chosen(leaderboard(frame))


def factorial_effects(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Main effects and two-way interactions (on minus off, in AUROC) per method from a +-1 coded regression
    with seed blocks; interactions are left out where the design cannot separate them."""
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        x = np.array([[1.0 if f in parts else -1.0 for f in factors] for parts in g["parts"]])
        y = g["test_auroc"].to_numpy(float)
        seeds = pd.get_dummies(g["seed"], drop_first=True).to_numpy(float)
        names = list(factors)
        cols = [x]
        pairs = list(itertools.combinations(range(len(factors)), 2))
        inter = np.stack([x[:, i] * x[:, j] for i, j in pairs], 1) if pairs else np.empty((len(x), 0))
        full = np.column_stack([np.ones(len(x)), x, inter, seeds])
        if np.linalg.matrix_rank(full) == full.shape[1]:
            cols.append(inter)
            names += [f"{factors[i]} x {factors[j]}" for i, j in pairs]
        design = np.column_stack([np.ones(len(x)), *cols, seeds])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            continue  # not a factorial design over these factors
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        df = len(y) - design.shape[1]
        se = np.full(design.shape[1], np.nan)
        if df > 0:
            sigma2 = float(((y - design @ beta) ** 2).sum() / df)
            se = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ design)))
        t = stats.t.ppf(0.975, df) if df > 0 else np.nan
        for i, name in enumerate(names, start=1):
            effect, half = 2 * beta[i], 2 * t * se[i]
            out.append(
                {
                    **dict(zip(GROUP, key)),
                    "term": name,
                    "kind": "main" if i <= len(factors) else "interaction",
                    "effect": float(effect),
                    "lo": float(effect - half) if df > 0 else None,
                    "hi": float(effect + half) if df > 0 else None,
                    "df": df,
                }
            )
    return pd.DataFrame(out)


def one_at_a_time_effects(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Adding each augmentation to none ('alone') and removing it from all ('dropped'), paired by seed."""
    out = []
    all_on = tuple(factors)
    for key, g in frame.groupby(GROUP, sort=False):
        by = {(parts, seed): s for parts, seed, s in zip(g["parts"], g["seed"], g["test_auroc"])}
        for f in factors:
            without = tuple(x for x in factors if x != f)
            for contrast, on, off in (("alone", (f,), ()), ("dropped", all_on, without)):
                diffs = [by[(on, s)] - by[(off, s)] for s in sorted(set(g["seed"])) if (on, s) in by and (off, s) in by]
                if diffs:
                    m, lo, hi = mean_ci(diffs)
                    out.append(
                        {**dict(zip(GROUP, key)), "term": f, "contrast": contrast, "effect": m, "lo": lo, "hi": hi}
                    )
    return pd.DataFrame(out)


def pairwise_matrix(frame: pd.DataFrame, factors: list[str], method: str) -> pd.DataFrame:
    """Mean test AUROC of 'first then second' (rows: first); the diagonal is the augmentation alone."""
    g = frame[frame["method"] == method]
    m = pd.DataFrame(np.nan, index=factors, columns=factors)
    for parts, s in g.groupby("parts")["test_auroc"].mean().items():
        if len(parts) == 1 and parts[0] in factors:
            m.loc[parts[0], parts[0]] = s
        elif len(parts) == 2 and set(parts) <= set(factors):
            m.loc[parts[0], parts[1]] = s
    return m


def ranking_stability(frame: pd.DataFrame) -> pd.DataFrame:
    """How much seeds agree on the order of recipes: mean pairwise Spearman correlation and Kendall's W."""
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        table = g.pivot_table(index="recipe", columns="seed", values="test_auroc").dropna()
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


def sensitivity(frame: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Spread of recipe scores per method: SD across recipes of the seed-mean test AUROC, with a 95 %
    interval from resampling seeds; the range (best minus worst recipe) alongside."""
    rng = np.random.default_rng(seed)
    out = []
    for key, g in frame.groupby(GROUP, sort=False):
        table = g.pivot_table(index="recipe", columns="seed", values="test_auroc").dropna()
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
    for (part, method), g in frame.groupby(["body_part", "method"], sort=False):
        shares = g.groupby("abnormal_fraction")["abnormal_share"].mean()
        if len(shares) < 2:
            continue
        balanced = (shares - 0.5).abs().idxmin()
        skewed = (shares - 0.5).abs().idxmax()
        for fraction, share in shares.items():
            m, lo, hi = mean_ci(g[g["abnormal_fraction"] == fraction]["test_auroc"])
            out.append(
                {
                    "body_part": part,
                    "method": method,
                    "abnormal_fraction": fraction,
                    "abnormal_share": share,
                    "test_auroc": m,
                    "lo": lo,
                    "hi": hi,
                    "contrast": None,
                }
            )
        a = g[g["abnormal_fraction"] == balanced].set_index(["recipe", "seed"])["test_auroc"]
        b = g[g["abnormal_fraction"] == skewed].set_index(["recipe", "seed"])["test_auroc"]
        diff = (b - a).dropna()
        m, lo, hi = mean_ci(diff)
        out.append(
            {
                "body_part": part,
                "method": method,
                "abnormal_fraction": f"{skewed} vs {balanced}",
                "abnormal_share": shares[skewed],
                "test_auroc": m,
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


def claims(frame: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """The original study's conclusions about SimCLR and BYOL, each as a number with an interval."""
    out: list[dict[str, Any]] = []
    if not {"simclr", "byol"} <= set(frame.get("method", [])):
        return out
    rng = np.random.default_rng(seed)
    for part, g in frame.groupby("body_part", sort=False):
        base = g[g["abnormal_fraction"] == g["abnormal_fraction"].iloc[0]]
        tables = {
            m: base[base["method"] == m].pivot_table(index="recipe", columns="seed", values="test_auroc").dropna()
            for m in ("simclr", "byol")
        }
        common = sorted(set(tables["simclr"].columns) & set(tables["byol"].columns))
        if len(tables["simclr"]) >= 2 and len(tables["byol"]) >= 2 and common:
            s, b = tables["simclr"][common].to_numpy(), tables["byol"][common].to_numpy()
            diff = s.mean(1).std(ddof=1) - b.mean(1).std(ddof=1)
            lo = hi = None
            if len(common) >= 2:
                picks = rng.integers(0, len(common), size=(n_boot, len(common)))
                boot = np.array([s[:, p].mean(1).std(ddof=1) - b[:, p].mean(1).std(ddof=1) for p in picks])
                lo, hi = float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))
            out.append(
                {
                    "body_part": part,
                    "claim": "SimCLR is more sensitive to the augmentation recipe than BYOL",
                    "measure": "SD of recipe AUROCs, SimCLR minus BYOL",
                    "value": float(diff),
                    "lo": lo,
                    "hi": hi,
                    "verdict": _verdict(lo, hi, +1),
                }
            )
        imb = imbalance_effect(g)
        if len(imb):
            ch = imb[imb["contrast"] == "change"].set_index("method")
            for method, sign, text in (
                ("simclr", -1, "SimCLR loses AUROC when the unlabelled pool is imbalanced"),
                ("byol", 0, "BYOL is robust to an imbalanced unlabelled pool"),
            ):
                if method in ch.index:
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
                            "value": float(r["test_auroc"]),
                            "lo": r["lo"],
                            "hi": r["hi"],
                            "verdict": verdict,
                        }
                    )
    return out


REFERENCE_NAMES = {"imagenet": "ImageNet features + LR"}


def _reference_key(kind: str, p: dict[str, Any]) -> str:
    """A stable column name per reference: random_floor, pixels_floor, supervised, imagenet."""
    if kind == "floor":
        return f"{p['encoder']}_floor"
    return "supervised" if kind == "supervised" else p["reference"]


def references(store: Store) -> pd.DataFrame:
    """Floors, supervised baselines and frozen-feature references (ImageNet) as rows comparable with the
    leaderboard; a reference that was skipped (no weights offline) has no numbers and is left out here."""
    rows = []
    for r in store.runs(status="done"):
        if r["kind"] not in ("floor", "supervised", "reference"):
            continue
        p, res = r["params"], r["result"]
        if res.get("test_auroc") is None:
            continue
        if r["kind"] == "floor":
            name = f"{p['encoder']} floor"
        elif r["kind"] == "supervised":
            name = f"supervised, {p['label_fraction']:.0%} labels"
        else:
            name = REFERENCE_NAMES.get(p["reference"], p["reference"])
        lo, hi = res["test_auroc_ci"] or (None, None)
        rows.append(
            {
                "body_part": p["body_part"] or "all",
                "model": name,
                "kind": r["kind"],
                "val_auroc": res["val_auroc"],
                "test_auroc": res["test_auroc"],
                "test_lo": lo,
                "test_hi": hi,
                "run_id": r["id"],
                "key": _reference_key(r["kind"], p),
                "label_fraction": p.get("label_fraction"),
            }
        )
    return pd.DataFrame(rows)


def skipped_references(store: Store) -> list[dict[str, Any]]:
    """References recorded as skipped, with their one-line reason (e.g. no network for the ImageNet weights)."""
    return [
        {"body_part": r["params"]["body_part"] or "all", "reference": r["params"]["reference"],
         "reason": r["result"]["skipped"]}
        for r in store.runs(kind="reference", status="done")
        if r["result"].get("skipped")
    ]  # fmt: skip


PER_PART_REFERENCES = ("imagenet", "supervised", "random_floor", "pixels_floor")


def _pool(board: pd.DataFrame) -> str | None:
    """The pretraining pool the per-part table reads: as it is, when the study also varied it."""
    pools = sorted(set(board["abnormal_fraction"])) if len(board) else []
    return "as is" if "as is" in pools else (pools[0] if pools else None)


def per_part_table(board: pd.DataFrame, refs: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame:
    """The seed study's table: one row per body part. Per SSL method the recipe chosen on validation (pool as it
    is), its seeds and its test AUROC with the leaderboard's interval; then ImageNet features + LR, the supervised
    baseline with its largest label share, and the floors. Columns: body_part, pool, then KEY_auroc, KEY_lo,
    KEY_hi per model (SSL methods also KEY_recipe, KEY_seeds; in the order of ``methods``, default: as found);
    a model that did not run is NaN."""
    pool = _pool(board)
    best = board[(board["rank"] == 1) & (board["abnormal_fraction"] == pool)] if len(board) else board
    found = list(dict.fromkeys(best["method"])) if len(best) else []
    methods = [m for m in methods or found if m in found]
    parts = sorted({*(best["body_part"] if len(best) else []), *(refs["body_part"] if len(refs) else [])})
    rows = []
    for part in parts:
        row: dict[str, Any] = {"body_part": part, "pool": pool}
        for method in methods:
            hit = best[(best["body_part"] == part) & (best["method"] == method)]
            r = hit.iloc[0] if len(hit) else None
            row[f"{method}_recipe"] = None if r is None else r["recipe"]
            row[f"{method}_seeds"] = None if r is None else int(r["n_seeds"])
            row.update(_cells(method, r, ("test_auroc", "test_lo", "test_hi")))
        for key in PER_PART_REFERENCES:
            hit = refs[(refs["body_part"] == part) & (refs["key"] == key)] if len(refs) else refs
            if key == "supervised" and len(hit):
                hit = hit[hit["label_fraction"] == hit["label_fraction"].max()]
            row.update(_cells(key, hit.iloc[0] if len(hit) else None, ("test_auroc", "test_lo", "test_hi")))
        rows.append(row)
    return pd.DataFrame(rows)


def _cells(key: str, row: Any, names: tuple[str, str, str]) -> dict[str, float]:
    values = [np.nan if row is None or row[n] is None else float(row[n]) for n in names]
    return dict(zip((f"{key}_auroc", f"{key}_lo", f"{key}_hi"), values))


# --- effects from stored test predictions, and the headline they give -------------------------------------------
def run_predictions(study: str | Path, result: dict[str, Any] | None) -> pd.DataFrame | None:
    """A finished run's per-image test predictions (index, patient_id, label, prob), or None where the run
    stored none (studies from before predictions were kept)."""
    name = (result or {}).get("predictions")
    if not name or not result.get("run"):
        return None
    path = Path(study) / result["run"] / name
    return pd.read_csv(path) if path.is_file() else None


def ssl_predictions(study: str | Path, store: Store) -> dict[str, pd.DataFrame]:
    """Stored test predictions of every finished SSL run, keyed by run id."""
    out = {}
    for r in store.runs(kind="ssl", status="done"):
        pred = run_predictions(study, r["result"])
        if pred is not None:
            out[r["id"]] = pred
    return out


def paired_effects(
    frame: pd.DataFrame, predictions: dict[str, pd.DataFrame], factors: list[str], n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """What adding each augmentation does to test AUROC, from every pair of runs that differ by it alone (same
    seed, same method): the mean change over the pairs, with a 95 % percentile interval from resampling test
    patients (one draw shared by every run, so each pair stays paired) and, with several seeds, seeds as well.

    Unlike the t-interval over seeds this gives an interval from a single seed; it then covers the test
    sample's noise but not the seed-to-seed spread of training."""
    out = []
    rng = np.random.default_rng(seed)
    for key, g in frame[frame["run_id"].isin(predictions)].groupby(GROUP, sort=False):
        runs = {(frozenset(p), s): rid for p, s, rid in zip(g["parts"], g["seed"], g["run_id"])}
        pairs = {f: _pairs(runs, f) for f in factors}
        used = sorted({rid for ps in pairs.values() for pair in ps for rid in pair[:2]})
        if not used:
            continue
        y, probs, members = _aligned(predictions, used)
        col = {rid: i for i, rid in enumerate(used)}
        seeds = sorted(set(g["seed"]))
        draws = []
        for _ in range(n_boot):
            idx = np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])
            picked = rng.choice(seeds, len(seeds)) if len(seeds) > 1 else seeds
            if len(np.unique(y[idx])) == 2:
                draws.append((np.array([auroc(y[idx], probs[idx, c]) for c in range(len(used))]), picked))
        full = np.array([auroc(y, probs[:, c]) for c in range(len(used))])
        for f, ps in pairs.items():
            if not ps:
                continue
            effect = float(np.mean([full[col[a]] - full[col[b]] for a, b, _ in ps]))
            boot = [_pair_mean(scores, ps, col, picked) for scores, picked in draws]
            boot = np.array([b for b in boot if np.isfinite(b)])
            lo, hi = (float(np.quantile(boot, q)) for q in (0.025, 0.975)) if len(boot) else (None, None)
            out.append(
                {**dict(zip(GROUP, key)), "term": f, "effect": effect, "lo": lo, "hi": hi, "n_pairs": len(ps),
                 "n_seeds": len({s for _, _, s in ps})}
            )  # fmt: skip
    return pd.DataFrame(out)


def _pairs(runs: dict[tuple[frozenset, int], str], factor: str) -> list[tuple[str, str, int]]:
    """(run with the factor, the same recipe and seed without it, seed) for every such pair in a study."""
    return [
        (rid, runs[(parts - {factor}, s)], s)
        for (parts, s), rid in runs.items()
        if factor in parts and (parts - {factor}, s) in runs
    ]


def _aligned(predictions: dict[str, pd.DataFrame], runs: list[str]) -> tuple[np.ndarray, np.ndarray, list]:
    """Labels, an (images x runs) probability matrix and each patient's rows, over the images all runs share."""
    first = predictions[runs[0]].set_index("index")
    common = first.index
    for rid in runs[1:]:
        common = common.intersection(predictions[rid]["index"])
    base = first.loc[common]
    probs = np.column_stack([predictions[rid].set_index("index").loc[common, "prob"].to_numpy(float) for rid in runs])
    codes, uniq = pd.factorize(base["patient_id"])
    return base["label"].to_numpy(int), probs, [np.flatnonzero(codes == i) for i in range(len(uniq))]


def _pair_mean(scores: np.ndarray, pairs: list, col: dict[str, int], seeds) -> float:
    diffs = [scores[col[a]] - scores[col[b]] for s in seeds for a, b, ps in pairs if ps == s]
    return float(np.mean(diffs)) if diffs else float("nan")


def _signed(v: float) -> str:
    return f"{v:+.2f}"


def _interval(r: Any) -> str:
    if r.lo is None or r.hi is None or pd.isna(r.lo):
        return f"{_signed(r.effect)}, no interval"
    return f"{_signed(r.effect)} [{_signed(r.lo)}, {_signed(r.hi)}]"


def _names(rows: pd.DataFrame) -> str:
    terms = [f"{r.term} ({_interval(r)})" for r in rows.itertuples()]
    return terms[0] if len(terms) == 1 else ", ".join(terms[:-1]) + " and " + terms[-1]


METHOD_NAMES = {"simclr": "SimCLR", "byol": "BYOL", "moco": "MoCo", "simsiam": "SimSiam", "barlowtwins": "Barlow Twins",
                "vicreg": "VICReg", "vicregl": "VICRegL", "densecl": "DenseCL", "mae": "MAE", "dcl": "DCL"}  # fmt: skip


def headline(effects: pd.DataFrame, images: str = "these images") -> list[str]:
    """The study's answer, one sentence per method (and body part or pool where there are several): the
    augmentations whose 95 % interval lies above zero help, those below hurt, the rest did nothing beyond
    noise. ``effects`` has method, term, effect, lo, hi (body_part and abnormal_fraction optional)."""
    if effects.empty:
        return []
    keys = [c for c in GROUP if c in effects and effects[c].nunique() > 1 and c != "method"]
    out = []
    for key, g in effects.groupby([*keys, "method"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        method = METHOD_NAMES.get(key[-1], key[-1])
        where = "".join(f", {c.replace('_', ' ')} {v}" for c, v in zip(keys, key[:-1]))
        sure = g["lo"].notna() & g["hi"].notna()
        helps = g[sure & (g["lo"] > 0)].sort_values("effect", ascending=False)
        hurts = g[sure & (g["hi"] < 0)].sort_values("effect")
        rest = g.drop(helps.index.union(hurts.index))
        parts = []
        if len(helps):
            parts.append(f"{_names(helps)} {'helps' if len(helps) == 1 else 'help'}")
        if len(hurts):
            parts.append(f"{_names(hurts)} {'hurts' if len(hurts) == 1 else 'hurt'}")
        if not parts:
            out.append(
                f"For {method} on {images}{where}, no augmentation changed the result beyond noise ({_names(g)})."
            )
            continue
        if len(rest):
            parts.append(f"{_names(rest)} changed nothing beyond noise")
        out.append(f"For {method} on {images}{where}, " + "; ".join(parts) + ".")
    return out


def planted_check(effects: pd.DataFrame, expected: dict[str, int]) -> pd.DataFrame:
    """Effects set against a known truth (``expected``: augmentation -> +1, -1 or 0 for no effect), e.g. the
    synthetic radiographs' planted nuisance factors: recovered, missed, wrong sign or a false alarm."""
    rows = []
    for r in effects[effects["term"].isin(expected)].itertuples():
        sign = expected[r.term]
        if r.lo is None or r.hi is None or pd.isna(r.lo):
            verdict = "no interval"
        elif r.lo > 0 or r.hi < 0:
            found = 1 if r.lo > 0 else -1
            verdict = "recovered" if found == sign else ("false alarm" if sign == 0 else "wrong sign")
        else:
            verdict = "recovered (no effect)" if sign == 0 else "missed"
        rows.append({**{c: getattr(r, c) for c in GROUP if c in effects}, "term": r.term, "expected": sign,
                     "effect": r.effect, "lo": r.lo, "hi": r.hi, "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows)


def answer_effects(
    design: str, frame: pd.DataFrame, predictions: dict[str, pd.DataFrame], factors: list[str], n_boot: int = 1000
) -> tuple[pd.DataFrame, str]:
    """The effects a study's answer is built from, and how their intervals were made: paired runs with a
    patient (and seed) bootstrap where the runs kept their predictions, else the design's own analysis."""
    if frame.empty:
        return pd.DataFrame(), ""
    effects = paired_effects(frame, predictions, factors, n_boot=n_boot) if predictions else pd.DataFrame()
    if len(effects):
        return effects, (
            "change in test AUROC when the augmentation is added to a recipe, averaged over every pair of runs that "
            "differ by it alone; 95 % interval from resampling test patients"
            + (" and seeds" if effects["n_seeds"].max() > 1 else " (one seed: the seed-to-seed spread is not in it)")
        )
    if design == "one-at-a-time":
        effects = one_at_a_time_effects(frame, factors)
        effects = effects[effects["contrast"] == "alone"] if len(effects) else effects
        return effects, "the augmentation alone minus none, paired by seed; 95 % t-interval over seeds"
    if design in ("full", "fractional"):
        effects = factorial_effects(frame, factors)
        effects = effects[effects["kind"] == "main"] if len(effects) else effects
        return effects, "main effect (on minus off), regression with seed blocks; 95 % interval from its residuals"
    return pd.DataFrame(), ""


def versus_references(board: pd.DataFrame, refs: pd.DataFrame) -> list[str]:
    """One sentence per method: its recipe chosen on validation against the floors and the supervised models,
    'above' or 'below' a reference only where the two 95 % intervals are apart, else 'level with' it."""
    if board.empty or refs.empty:
        return []
    out = []
    for r in chosen(board).itertuples():
        others = refs[refs["body_part"] == r.body_part]
        if others.empty:
            continue
        groups: dict[str, list[str]] = {"above": [], "level with": [], "below": []}
        for ref in others.itertuples():
            groups[_compare(r, ref)].append(f"{ref.model} ({ref.test_auroc:.3f}{_ci_text(ref.test_lo, ref.test_hi)})")
        clauses = [f"{k} {_join(v)}" for k, v in groups.items() if v]
        where = f" on {r.body_part}" if board["body_part"].nunique() > 1 else ""
        out.append(
            f"{METHOD_NAMES.get(r.method, r.method)}'s recipe chosen on validation ({r.recipe}){where} reaches test "
            f"AUROC {r.test_auroc:.3f}{_ci_text(r.test_lo, r.test_hi)}: " + "; ".join(clauses) + "."
        )
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ci_text(lo: Any, hi: Any) -> str:
    return "" if lo is None or hi is None or pd.isna(lo) else f" [{lo:.3f}, {hi:.3f}]"


def _compare(a: Any, b: Any) -> str:
    """'above' or 'below' when the intervals are apart; 'level with' when they overlap (or one is missing)."""
    if any(v is None or pd.isna(v) for v in (a.test_lo, a.test_hi, b.test_lo, b.test_hi)):
        return "level with"
    if a.test_lo > b.test_hi:
        return "above"
    if a.test_hi < b.test_lo:
        return "below"
    return "level with"

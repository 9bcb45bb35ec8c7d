"""The start as a study factor (``inits``): the effect of the start itself on each recipe, and whether continued
SSL on the user's images beats the frozen start it came from.

Augmentation effects within each start come from the usual analyses: ``start`` is one of the frame's groups
(frame.GROUP). Here, per body part, pool, method and recipe, each start is compared with the baseline start
(``none``, random weights, where the study has it; else the first) on the same seeds: the mean paired difference in
test AUROC with its 95 % t-interval over seeds (None with one seed). Then the recipe chosen on validation from each
start is set against the start's own frozen encoder probed the same way (a reference): above or below it where
the two 95 % intervals are apart, else level with it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from xrayssl.metrics import mean_ci

KEYS = ["body_part", "abnormal_fraction", "method", "recipe"]


def baseline_start(starts: list[str]) -> str:
    return "none" if "none" in starts else sorted(starts)[0]


def start_effects(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (body part, pool, method, recipe or 'all recipes', start other than the baseline): the start's
    effect on test AUROC against the baseline start, paired by seed."""
    if frame.empty or "start" not in frame or frame["start"].nunique() < 2:
        return pd.DataFrame()
    base = baseline_start(list(frame["start"].unique()))
    rows = []
    for key, g in frame.groupby(KEYS[:-1], sort=False):
        by = g.pivot_table(index=["recipe", "seed"], columns="start", values="test_score")
        for start in [s for s in by.columns if s != base]:
            diff = (by[start] - by[base]).dropna()
            for recipe, d in [*diff.groupby(level="recipe", sort=False), ("all recipes", diff)]:
                m, lo, hi = mean_ci(d.to_numpy())
                rows.append({**dict(zip(KEYS[:-1], key)), "recipe": recipe, "start": start, "baseline": base,
                             "effect": m, "lo": lo, "hi": hi, "n_pairs": len(d)})  # fmt: skip
    return pd.DataFrame(rows)


def versus_frozen(board: pd.DataFrame, refs: pd.DataFrame, frozen: dict[str, str]) -> pd.DataFrame:
    """Per body part, pool, method and start with a frozen reference (``frozen``: start -> reference key): the
    recipe chosen on validation from that start against the start frozen, both with their 95 % intervals."""
    if board.empty or refs.empty or "start" not in board:
        return pd.DataFrame()
    rows = []
    for r in board[board["rank"] == 1].itertuples():
        key = frozen.get(r.start)
        hit = refs[(refs["key"] == key) & (refs["body_part"] == r.body_part)] if key else refs.iloc[:0]
        if not len(hit):
            continue
        ref = hit.iloc[0]
        rows.append(
            {
                "body_part": r.body_part, "abnormal_fraction": r.abnormal_fraction, "method": r.method,
                "start": r.start, "recipe": r.recipe, "test_score": r.test_score, "test_lo": r.test_lo,
                "test_hi": r.test_hi, "frozen": key, "frozen_score": ref["test_score"], "frozen_lo": ref["test_lo"],
                "frozen_hi": ref["test_hi"], "verdict": _verdict(r.test_lo, r.test_hi, ref["test_lo"], ref["test_hi"]),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def _verdict(lo: Any, hi: Any, ref_lo: Any, ref_hi: Any) -> str:
    if None in (lo, hi, ref_lo, ref_hi) or any(pd.isna(v) for v in (lo, hi, ref_lo, ref_hi)):
        return "level with (no interval)"
    if lo > ref_hi:
        return "above"
    if hi < ref_lo:
        return "below"
    return "level with"


def start_sentences(effects: pd.DataFrame, versus: pd.DataFrame) -> list[str]:
    """The report's answer about starts: one sentence per start and method over all recipes, and one per
    comparison of continued SSL with its frozen start."""
    out = []
    if not effects.empty:
        overall = effects[effects["recipe"] == "all recipes"]
        for r in overall.itertuples():
            ci = "" if r.lo is None or pd.isna(r.lo) else f" [{r.lo:+.3f}, {r.hi:+.3f}]"
            where = "" if r.body_part == "all" else f" ({r.body_part})"
            out.append(
                f"Starting {r.method} from {r.start} instead of {r.baseline}{where} changed test AUROC by "
                f"{r.effect:+.3f}{ci} over {r.n_pairs} paired runs."
            )
    for r in versus.itertuples():
        where = "" if r.body_part == "all" else f" ({r.body_part})"
        out.append(
            f"{r.method} continued from {r.start} ({r.recipe}){where}: {r.test_score:.3f} test AUROC, "
            f"{r.verdict} the frozen start ({r.frozen_score:.3f})."
        )
    return out

"""How far the ranking can be trusted: seeds' agreement, sensitivity to the recipe, the original study's claims
and the pretraining pool's imbalance."""

from __future__ import annotations

from xrayssl.report.markup import ci, esc, fmt, table
from xrayssl.report.results import StudyResults


def stability(res: StudyResults) -> str:
    if res.frame.empty:
        return ""
    rows = [
        {"body part": esc(r.body_part), "pool": esc(r.abnormal_fraction), "method": esc(r.method),
         "recipes": r.n_recipes, "seeds": r.n_seeds,
         "Spearman between seeds (mean / min)": f"{r.spearman_mean:.2f} / {r.spearman_min:.2f}",
         "Kendall's W": fmt(r.kendall_w, 2)}
        for r in res.stability.itertuples()
    ]  # fmt: skip
    srows = [
        {"body part": esc(r.body_part), "pool": esc(r.abnormal_fraction), "method": esc(r.method),
         "SD across recipes [95 % CI]": ci(r.sd, r.lo, r.hi), "best - worst": fmt(r.range)}
        for r in res.sensitivity.itertuples()
    ]  # fmt: skip
    return (
        "<h2>Ranking stability and augmentation sensitivity</h2>"
        "<p class='note'>Do seeds agree on the order of recipes (1 = same order)? How much does the recipe "
        "matter for each method (spread of recipe means; interval from resampling seeds)?</p>"
        + table(rows, left=("body part", "pool", "method"))
        + table(srows, left=("body part", "pool", "method"))
    )


def claims(res: StudyResults) -> str:
    out = ["<h2>The original study's claims, as numbers</h2>"]
    if not res.claims:
        out.append("<p class='note'>needs both simclr and byol with two or more recipes.</p>")
    rows = [
        {"body part": esc(c["body_part"]), "claim": esc(c["claim"]), "measure": esc(c["measure"]),
         "value [95 % CI]": ci(c["value"], c["lo"], c["hi"]),
         "verdict": f"<span class='{'ok' if c['verdict'] == 'supported' else 'bad'}'>{esc(c['verdict'])}</span>"}
        for c in res.claims
    ]  # fmt: skip
    out.append(table(rows, left=("body part", "claim", "measure", "verdict")))
    if len(res.imbalance):
        irows = [
            {"body part": esc(r.body_part), "method": esc(r.method), "pool abnormal fraction": esc(r.abnormal_fraction),
             "abnormal share": fmt(r.abnormal_share, 2),
             f"test {esc(res.metric)} [95 % CI]": ci(r.test_score, r.lo, r.hi)}
            for r in res.imbalance.itertuples()
        ]  # fmt: skip
        out.append("<h3>Pretraining pool imbalance</h3>" + table(irows, left=("body part", "method")))
    return "".join(out)

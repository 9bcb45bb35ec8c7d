"""The chosen SSL recipes set against the supervised models and the floors: a plot, and the seed study's table
per body part (the same table as STUDY/results.csv and ``report --json``'s per_part)."""

from __future__ import annotations

import pandas as pd

from xrayssl.report import plots
from xrayssl.report.markup import ci, esc, fmt, img, table
from xrayssl.report.results import RESULTS_CSV, StudyResults
from xrayssl.study.analysis import chosen

PER_PART_HEADS = {"imagenet": "ImageNet features + LR", "supervised": "supervised", "random_floor": "random floor",
                  "pixels_floor": "pixel floor"}  # fmt: skip


def comparison(res: StudyResults) -> str:
    rows = []
    for r in chosen(res.board).itertuples():
        rows.append({"name": f"{r.method}: {r.recipe} ({r.body_part}, pool {r.abnormal_fraction})", "kind": "ssl",
                     "test_score": r.test_score, "test_lo": r.test_lo, "test_hi": r.test_hi})  # fmt: skip
    for r in res.refs.itertuples():
        rows.append({"name": f"{r.model} ({r.body_part})", "kind": r.kind, "test_score": r.test_score,
                     "test_lo": r.test_lo, "test_hi": r.test_hi})  # fmt: skip
    if not rows:
        return ""
    return (
        "<h2>SSL vs supervised vs floors</h2><p class='note'>SSL: the recipe chosen on validation, frozen encoder + "
        "logistic regression on all training labels. Floors: an untrained encoder and raw pixels with the same "
        "probe.</p>" + img(plots.comparison_plot(pd.DataFrame(rows), res.metric), "comparison")
    )


def per_part(res: StudyResults) -> str:
    """The seed study's table, one row per body part."""
    tab = res.per_part
    if tab.empty:
        return ""
    methods = [c[: -len("_recipe")] for c in tab.columns if c.endswith("_recipe")]
    rows = []
    for r in tab.to_dict(orient="records"):
        row = {"body part": fmt(r["body_part"])}
        for m in methods:
            recipe = f"<br><span class='note'>{fmt(r[f'{m}_recipe'])}</span>" if r[f"{m}_recipe"] else ""
            row[f"{esc(m)}: best recipe on val"] = ci(r[f"{m}_score"], r[f"{m}_lo"], r[f"{m}_hi"]) + recipe
        for key, head in PER_PART_HEADS.items():
            row[head] = ci(r[f"{key}_score"], r[f"{key}_lo"], r[f"{key}_hi"])
        rows.append(row)
    notes = "".join(
        f"<p class='note'>{esc(s['reference'])} ({esc(s['body_part'])}) skipped: {esc(s['reason'])}</p>"
        for s in res.skipped
    )
    return (
        f"<h2>Per body part</h2><p class='note'>Test {esc(res.metric)} [95 % CI] per body part, as the seed study "
        "reported it: "
        f"each SSL method's recipe chosen on validation (pool {fmt(tab['pool'].iloc[0])}; t-interval over seeds, "
        "or the run's patient bootstrap for one seed), ImageNet features + logistic regression, the supervised "
        "baseline with its largest label share, and the floors (patient bootstrap). '-': did not run. Also in "
        f"<code>{esc(RESULTS_CSV)}</code> and <code>xrayssl report STUDY --json</code>.</p>"
        + table(rows, left=("body part",))
        + notes
    )

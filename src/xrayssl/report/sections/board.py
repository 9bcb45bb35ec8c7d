"""The leaderboard and the augmentation effects: those behind the answer, then the design's own contrasts."""

from __future__ import annotations

import pandas as pd

from xrayssl.report import plots
from xrayssl.report.markup import ci, esc, fmt, img, table
from xrayssl.report.results import StudyResults


def leaderboard(res: StudyResults) -> str:
    board, metric = res.board, esc(res.metric)
    if board.empty:
        return "<h2>Leaderboard</h2><p class='note'>no finished SSL run yet</p>"
    rows = [
        {"body part": esc(r.body_part), "pool": esc(r.abnormal_fraction), "method": esc(r.method), "rank (val)": r.rank,
         "recipe": esc(r.recipe), "seeds": r.n_seeds, f"val {metric}": fmt(r.val_score),
         f"test {metric} [95 % CI]": ci(r.test_score, r.test_lo, r.test_hi), "interval": esc(r.interval),
         "test SD": fmt(r.test_sd)}
        for r in board.itertuples()
    ]  # fmt: skip
    return (
        "<h2>Leaderboard</h2>"
        + img(plots.leaderboard_plot(board, res.metric), "leaderboard")
        + "<p class='note'>Interval: a 95 % t-interval over seeds; a recipe run with one seed has its run's "
        "patient bootstrap instead, which leaves out the seed-to-seed spread of training.</p>"
        + table(rows, left=("body part", "pool", "method", "recipe", "interval"))
    )


def effects(res: StudyResults) -> str:
    """The effects behind the answer (as a plot), then what the study's design estimates on its own."""
    if res.frame.empty:
        return ""
    out = ["<h2>Augmentation effects</h2>"]
    if len(res.effects):
        out.append(f"<p class='note'>As in the answer: {esc(res.effects_note)}.</p>")
        labelled = res.effects.assign(label=res.effects["term"])
        out.append(img(plots.effects_plot(labelled, f"change in test {res.metric}"), "effects behind the answer"))
        out.append(f"<h3>The {esc(res.config.design)} design's own contrasts</h3>")
    out.append(design_contrasts(res))
    return "".join(out)


def design_contrasts(res: StudyResults) -> str:
    """The design's contrasts as study.analysis.design_effects made them: a table, or one heatmap per method."""
    own = res.design
    if own.matrices:
        return "".join(
            img(
                plots.heatmap(m, f"{method}: test {res.metric}, first then second", f"test {res.metric}"),
                f"{method} pairwise",
            )
            for method, m in own.matrices.items()
        )
    if not own.xlabel:  # a design with no contrasts of its own (study.analysis.DESIGNS)
        return f"<p class='note'>design '{esc(own.design)}': see the leaderboard.</p>"
    eff = own.table
    if eff.empty:
        return ""
    # one-at-a-time: each term twice (alone, dropped), so the label names the contrast
    labels = eff["term"] + " (" + eff["contrast"] + ")" if "contrast" in eff else eff["term"]
    eff = eff.assign(label=labels)
    return (
        f"<p class='note'>{esc(own.note)}</p>"
        + img(plots.effects_plot(eff, own.xlabel), f"{own.design} effects")
        + _effect_table(eff)
    )


def _effect_table(eff: pd.DataFrame) -> str:
    rows = [
        {"body part": esc(r.body_part), "pool": esc(r.abnormal_fraction), "method": esc(r.method),
         "term": esc(r.label), "effect [95 % CI]": ci(r.effect, r.lo, r.hi)}
        for r in eff.itertuples()
    ]  # fmt: skip
    return table(rows, left=("body part", "pool", "method", "term"))

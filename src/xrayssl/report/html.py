"""``xrayssl report STUDY --out report.html``: everything a reader needs to judge the study, in one file."""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xrayssl.data.summary import LABEL_NAMES
from xrayssl.errors import XraySSLError
from xrayssl.report import plots
from xrayssl.study import analysis
from xrayssl.study.config import StudyConfig
from xrayssl.study.store import Store

EXPECTED_WORDS = {1: "helps", -1: "hurts", 0: "no effect"}  # a planted truth's sign, as the answer's table says it
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;
 padding:0 1em;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ddd;padding:3px 7px;
 text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}img{max-width:100%}
.note{color:#555;font-size:.9em}.ok{color:#17692b;font-weight:600}.bad{color:#a11;font-weight:600}
.gallery{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1em}.gallery figure{margin:0}
figcaption{font-size:.85em;color:#444}p.lead{font-size:1.15em;margin:.5em 0}
"""


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _ci(m: Any, lo: Any, hi: Any) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return _fmt(m)
    return f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]"


def _table(rows: list[dict[str, Any]], left: tuple[str, ...] = ()) -> str:
    if not rows:
        return "<p class='note'>nothing to show yet</p>"
    cols = list(rows[0])
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'l' if c in left else ''}'>{r[c]}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _signed_ci(m: Any, lo: Any, hi: Any) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{m:+.3f}"
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _img(uri: str, alt: str) -> str:
    return f"<img src='{uri}' alt='{html.escape(alt)}'>"


@dataclass
class Context:
    """What every section reads: the study's stored config, runs and results, analysed once."""

    study: Path
    store: Store
    config: StudyConfig
    frame: pd.DataFrame  # finished SSL runs (analysis.ssl_frame)
    board: pd.DataFrame  # leaderboard
    refs: pd.DataFrame  # floors and supervised baselines
    final: dict[str, Any] | None  # the finalize step's result
    counts: dict[str, int]
    effects: pd.DataFrame  # the effects the answer is built from
    effects_note: str
    expected: dict[str, Any] | None  # planted truth (synthetic data): augmentation -> {sign, factor}

    @property
    def factors(self) -> list[str]:
        return list(self.config.augmentations)


def load_context(study: str | Path) -> Context:
    study = Path(study)
    store = Store(study)
    config = StudyConfig.from_dict({**store.get_meta("config"), "out": str(study)})
    frame = analysis.ssl_frame(store)
    effects, note = analysis.answer_effects(
        config.design, frame, analysis.ssl_predictions(study, store), list(config.augmentations), config.n_boot
    )
    return Context(
        study=study,
        store=store,
        config=config,
        frame=frame,
        board=analysis.leaderboard(frame),
        refs=analysis.references(store),
        final=next((r["result"] for r in store.runs(kind="finalize", status="done")), None),
        counts=store.counts(),
        effects=effects,
        effects_note=note,
        expected=store.get_meta(analysis.EXPECTED_EFFECTS_KEY),
    )


# the report's sections in order; each takes the context and returns HTML (a section to add is one function here)
def sections() -> list[Callable[[Context], str]]:
    return [
        _answer,
        _augmentations,
        _dataset,
        _leaderboard,
        _effects,
        _roc,
        _training,
        _stability,
        _claims,
        _comparison,
        _per_part,
        _label_efficiency,
        _gradcam,
        _runs,
    ]


def build_report(study: str | Path, out: str | Path | None = None) -> Path:
    ctx = load_context(study)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>xrayssl study report: {html.escape(ctx.study.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>xrayssl study report: {html.escape(ctx.study.name)}</h1>"
        + "".join(section(ctx) for section in sections())
        + f"<p class='note'>generated {time.strftime('%Y-%m-%d %H:%M')} from "
        f"{html.escape(str(ctx.study.resolve()))}</p></body></html>"
    )
    target = Path(out) if out else ctx.study / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def _answer(ctx: Context) -> str:
    """The first screen: one sentence per method, then the numbers behind it (against the planted truth where the
    data has one) and the chosen recipes against the references."""
    sentences = analysis.headline(ctx.effects)
    if not sentences:
        sentences = ["No augmentation effect can be estimated yet (runs still to do, or a design without contrasts)."]
    out = ["<h2>Answer</h2>"] + [f"<p class='lead'>{html.escape(s)}</p>" for s in sentences]
    out += [f"<p>{html.escape(s)}</p>" for s in analysis.versus_references(ctx.board, ctx.refs)]
    out.append("<h3>The numbers behind it</h3>")
    if ctx.effects_note:
        out.append(f"<p class='note'>Effect: {html.escape(ctx.effects_note)}.</p>")
    if ctx.expected:
        out.append(
            "<p class='note'>These images carry planted nuisance factors whose effect is known in advance "
            "(docs/augmentations.md): the verdict says whether the study found it.</p>"
        )
    out.append(_answer_table(ctx) + _best_vs_references(ctx) + _study_line(ctx))
    return "".join(out)


def _answer_table(ctx: Context) -> str:
    effects = ctx.effects
    if effects.empty:
        return ""
    keys = [c for c in ("body_part", "abnormal_fraction") if c in effects and effects[c].nunique() > 1]
    truth: dict[tuple, Any] = {}
    if ctx.expected:
        check = analysis.planted_check(effects, {k: v["sign"] for k, v in ctx.expected.items()})
        truth = {(r.method, r.term, *(getattr(r, k) for k in keys)): r for r in check.itertuples()}
    rows = []
    for r in effects.itertuples():
        row = {k.replace("_", " "): html.escape(str(getattr(r, k))) for k in keys}
        row |= {"method": html.escape(r.method), "augmentation": html.escape(r.term),
                "change in test AUROC [95 % CI]": _signed_ci(r.effect, r.lo, r.hi)}  # fmt: skip
        if ctx.expected:
            t = truth.get((r.method, r.term, *(getattr(r, k) for k in keys)))
            planted = ctx.expected.get(r.term, {})
            row["planted nuisance"] = html.escape(planted.get("factor", "none"))
            row["expected"] = EXPECTED_WORDS[t.expected] if t else "-"
            cls = "ok" if t and t.verdict.startswith("recovered") else "bad"
            row["verdict"] = f"<span class='{cls}'>{t.verdict}</span>" if t else "-"
        rows.append(row)
    left = (*[k.replace("_", " ") for k in keys], "method", "augmentation", "planted nuisance", "expected", "verdict")
    return _table(rows, left=left)


def _best_vs_references(ctx: Context) -> str:
    rows = []
    best = analysis.chosen(ctx.board)
    for r in best.itertuples():
        rows.append({"model": f"{html.escape(r.method)}, best recipe on validation: <b>{html.escape(r.recipe)}</b>",
                     "body part": html.escape(str(r.body_part)), "test AUROC [95 % CI]":
                     _ci(r.test_auroc, r.test_lo, r.test_hi)})  # fmt: skip
    for r in ctx.refs.itertuples():
        rows.append({"model": html.escape(r.model), "body part": html.escape(str(r.body_part)),
                     "test AUROC [95 % CI]": _ci(r.test_auroc, r.test_lo, r.test_hi)})  # fmt: skip
    return _table(rows, left=("model", "body part"))


def _study_line(ctx: Context) -> str:
    c, n = ctx.config, ctx.counts
    shared = c.shared_pretrain()  # the study's run length rule, not a copy of its default
    budget = " or ".join(x for x in (f"{shared['epochs']} epochs" if shared["epochs"] else "", shared["budget"]) if x)
    return (
        f"<p class='note'><b>methods</b> {html.escape(', '.join(c.methods))}; <b>design</b> {c.design} over "
        f"{html.escape(', '.join(c.augmentations))}"
        + (f" (after <code>{html.escape(c.base)}</code>)" if c.base else "")
        + f"; <b>seeds</b> {c.seeds}; <b>pretraining</b> {budget} per run; <b>runs</b> {n.get('done', 0)} done, "
        f"{n.get('pending', 0) + n.get('running', 0)} to do, {n.get('failed', 0)} failed. Recipes are chosen on the "
        "validation split; the test split is only reported.</p>"
    )


def _augmentations(ctx: Context) -> str:
    """What each of the study's augmentations does to a few of its images (after the base, if any)."""
    import torch

    from xrayssl.augment.pipeline import parse_pipeline
    from xrayssl.data.sample import sample_images

    try:
        images, rows = sample_images(ctx.config.cache, 6, seed=0, split="train")
    except (XraySSLError, OSError) as exc:
        return f"<h2>Augmentations</h2><p class='bad'>{html.escape(str(exc))}</p>"
    batch = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    recipes = {"original": ""} | ({"base": ctx.config.base} if ctx.config.base else {})
    recipes |= {name: "+".join(x for x in (ctx.config.base, spec) if x) for name, spec in ctx.config.specs().items()}
    grid = {
        name: parse_pipeline(spec)(batch, torch.Generator().manual_seed(i))[:, 0].numpy() if spec else images
        for i, (name, spec) in enumerate(recipes.items())
    }
    captions = [f"{LABEL_NAMES.get(int(r.label), r.label)} {r.body_part or ''}".strip() for r in rows.itertuples()]
    specs = "".join(
        f"<li><b>{html.escape(k)}</b> <code>{html.escape(v or 'nothing')}</code></li>" for k, v in recipes.items()
    )
    return (
        "<h2>Augmentations</h2><p class='note'>One random draw of each of the study's augmentations on six training "
        f"images (each row on the same images).</p><ul class='note'>{specs}</ul>"
        + _img(plots.augmentation_grid(grid, captions), "augmentation preview")
    )


def _dataset(ctx: Context) -> str:
    from xrayssl.data.cache import PreparedCache

    config = ctx.config
    try:
        manifest = PreparedCache(config.cache).manifest
    except XraySSLError as exc:
        return f"<h2>Dataset</h2><p class='bad'>{html.escape(str(exc))}</p>"
    counts = (
        manifest.groupby(["split", "body_part", "label"])
        .agg(images=("path", "size"), patients=("patient_id", "nunique"))
        .reset_index()
    )
    rows = [
        {"split": r.split, "body part": _fmt(r.body_part or "-"), "label": LABEL_NAMES.get(int(r.label), r.label),
         "images": r.images, "patients": r.patients}
        for r in counts.itertuples()
    ]  # fmt: skip
    return (
        f"<h2>Dataset</h2><p>{len(manifest)} images, {manifest['patient_id'].nunique()} patients, cache "
        f"<code>{html.escape(config.cache)}</code>. Splits are by patient.</p>"
        + _table(rows, left=("split", "body part", "label"))
    )


def _leaderboard(ctx: Context) -> str:
    board = ctx.board
    if board.empty:
        return "<h2>Leaderboard</h2><p class='note'>no finished SSL run yet</p>"
    rows = [
        {"body part": r.body_part, "pool": r.abnormal_fraction, "method": r.method, "rank (val)": r.rank,
         "recipe": html.escape(r.recipe), "seeds": r.n_seeds, "val AUROC": _fmt(r.val_auroc),
         "test AUROC [95 % CI]": _ci(r.test_auroc, r.test_lo, r.test_hi), "test SD": _fmt(r.test_sd)}
        for r in board.itertuples()
    ]  # fmt: skip
    return (
        "<h2>Leaderboard</h2>"
        + _img(plots.leaderboard_plot(board), "leaderboard")
        + _table(rows, left=("body part", "pool", "method", "recipe"))
    )


def _effects(ctx: Context) -> str:
    config, frame, factors = ctx.config, ctx.frame, ctx.factors
    if frame.empty:
        return ""
    out = ["<h2>Augmentation effects</h2>"]
    if len(ctx.effects):
        out.append(f"<p class='note'>As in the answer: {html.escape(ctx.effects_note)}.</p>")
        out.append(_img(plots.effects_plot(ctx.effects.assign(label=ctx.effects["term"]), "change in test AUROC"),
                        "effects behind the answer"))  # fmt: skip
        out.append(f"<h3>The {html.escape(config.design)} design's own contrasts</h3>")
    if config.design in ("full", "fractional", "one-at-a-time"):
        if config.design == "one-at-a-time":
            eff = analysis.one_at_a_time_effects(frame, factors)
            note = (
                "alone: the augmentation alone minus none; dropped: all minus all but it. "
                "Paired by seed; 95 % t-interval over seeds."
            )
            xlabel = "change in test AUROC"
            if len(eff):
                eff["label"] = eff["term"] + " (" + eff["contrast"] + ")"
        else:
            eff = analysis.factorial_effects(frame, factors)
            note = (
                "Effect = mean test AUROC with the augmentation on minus off (interactions: the usual +-1 "
                "contrast), from a regression with seed blocks; 95 % CI from its residuals."
            )
            xlabel = "effect on test AUROC"
            if len(eff):
                eff["label"] = eff["term"]
        if len(eff):
            out.append(f"<p class='note'>{note}</p>")
            out.append(_img(plots.effects_plot(eff, xlabel), f"{config.design} effects"))
            out.append(_effect_table(eff))
    elif config.design == "pairwise":
        for method in config.methods:
            m = analysis.pairwise_matrix(frame, factors, method)
            out.append(_img(plots.heatmap(m, f"{method}: test AUROC, first then second"), f"{method} pairwise"))
    else:
        out.append("<p class='note'>design 'list': see the leaderboard.</p>")
    return "".join(out)


def _effect_table(eff: pd.DataFrame) -> str:
    rows = [
        {"body part": r.body_part, "pool": r.abnormal_fraction, "method": r.method,
         "term": html.escape(r.label), "effect [95 % CI]": _ci(r.effect, r.lo, r.hi)}
        for r in eff.itertuples()
    ]  # fmt: skip
    return _table(rows, left=("body part", "pool", "method", "term"))


def _roc(ctx: Context) -> str:
    """ROC curves on the test images: each method's recipe chosen on validation, the supervised models, floors."""
    results = {r["id"]: r["result"] for r in ctx.store.runs(status="done")}
    curves: dict[str, list[dict[str, Any]]] = {}
    best = analysis.chosen(ctx.board)
    for r in best.itertuples():
        runs = ctx.frame[
            (ctx.frame["method"] == r.method)
            & (ctx.frame["recipe"] == r.recipe)
            & (ctx.frame["body_part"] == r.body_part)
            & (ctx.frame["abnormal_fraction"] == r.abnormal_fraction)
        ].sort_values("seed")
        pool = "" if ctx.frame["abnormal_fraction"].nunique() < 2 else f", pool {r.abnormal_fraction}"
        result = results.get(runs["run_id"].iloc[0])
        _add_curve(curves, ctx, result, f"{r.method}: {r.recipe}{pool}", "ssl", r.body_part)
    for r in ctx.refs.itertuples():
        _add_curve(curves, ctx, results.get(r.run_id), r.model, r.kind, r.body_part)
    if not curves:
        return ""
    return (
        "<h2>ROC curves</h2><p class='note'>Test images; SSL: the first seed of the recipe chosen on validation, "
        "frozen encoder + probe. Runs from before predictions were stored are left out.</p><div class='gallery'>"
        + "".join(
            f"<figure>{_img(plots.roc_plot(c), f'ROC {part}')}<figcaption>body part: {html.escape(str(part))}"
            "</figcaption></figure>"
            for part, c in curves.items()
        )
        + "</div>"
    )


def _add_curve(curves: dict, ctx: Context, result: dict | None, name: str, kind: str, part: Any) -> None:
    pred = analysis.run_predictions(ctx.study, result)
    if pred is not None and pred["label"].nunique() == 2:
        curves.setdefault(part, []).append({"name": name, "kind": kind, "label": pred["label"], "prob": pred["prob"]})


def training_log(run: Path) -> pd.DataFrame | None:
    """A run's training log: metrics.csv (step, epoch, seconds, loss, lr, knn_val_auroc, embedding_std) where the
    run recorded one, else loss.csv (step, epoch, seconds, loss); None when it has neither."""
    for name in ("metrics.csv", "loss.csv"):
        path = run / name
        if path.is_file():
            log = pd.read_csv(path)
            if {"step", "loss"} <= set(log.columns) and len(log):
                return log
    return None


def _training(ctx: Context) -> str:
    if ctx.frame.empty:
        return ""
    first = ctx.frame.sort_values("seed").drop_duplicates(["method", "recipe", "body_part", "abnormal_fraction"])
    several = [c for c in ("body_part", "abnormal_fraction") if first[c].nunique() > 1]
    logs: dict[str, dict[str, pd.DataFrame]] = {}
    for r in first.itertuples():
        log = training_log(ctx.study / r.run) if r.run else None
        if log is not None:
            label = r.recipe + "".join(f", {getattr(r, c)}" for c in several)
            logs.setdefault(r.method, {})[label] = log
    if not logs:
        return ""
    return (
        "<h2>Training curves</h2><p class='note'>Each recipe's first seed: the self-supervised loss per step "
        "(moving average over 5 steps) and, where the run watched itself, the validation kNN AUROC. A loss that "
        "falls fast and low can mean a shortcut: views that are easy to match for reasons that say nothing about the "
        "anatomy.</p>" + _img(plots.training_plot(logs), "training curves")
    )


def _stability(ctx: Context) -> str:
    frame = ctx.frame
    if frame.empty:
        return ""
    stab = analysis.ranking_stability(frame)
    sens = analysis.sensitivity(frame)
    rows = [
        {"body part": r.body_part, "pool": r.abnormal_fraction, "method": r.method, "recipes": r.n_recipes,
         "seeds": r.n_seeds, "Spearman between seeds (mean / min)": f"{r.spearman_mean:.2f} / {r.spearman_min:.2f}",
         "Kendall's W": _fmt(r.kendall_w, 2)}
        for r in stab.itertuples()
    ]  # fmt: skip
    srows = [
        {"body part": r.body_part, "pool": r.abnormal_fraction, "method": r.method,
         "SD across recipes [95 % CI]": _ci(r.sd, r.lo, r.hi), "best - worst": _fmt(r.range)}
        for r in sens.itertuples()
    ]  # fmt: skip
    return (
        "<h2>Ranking stability and augmentation sensitivity</h2>"
        "<p class='note'>Do seeds agree on the order of recipes (1 = same order)? How much does the recipe "
        "matter for each method (spread of recipe means; interval from resampling seeds)?</p>"
        + _table(rows, left=("body part", "pool", "method"))
        + _table(srows, left=("body part", "pool", "method"))
    )


def _claims(ctx: Context) -> str:
    frame = ctx.frame
    found = analysis.claims(frame)
    imb = analysis.imbalance_effect(frame) if len(frame) else pd.DataFrame()
    out = ["<h2>The original study's claims, as numbers</h2>"]
    if not found:
        out.append("<p class='note'>needs both simclr and byol with two or more recipes.</p>")
    rows = [
        {"body part": c["body_part"], "claim": html.escape(c["claim"]), "measure": html.escape(c["measure"]),
         "value [95 % CI]": _ci(c["value"], c["lo"], c["hi"]),
         "verdict": f"<span class='{'ok' if c['verdict'] == 'supported' else 'bad'}'>{c['verdict']}</span>"}
        for c in found
    ]  # fmt: skip
    out.append(_table(rows, left=("body part", "claim", "measure", "verdict")))
    if len(imb):
        irows = [
            {"body part": r.body_part, "method": r.method,
             "pool abnormal fraction": html.escape(str(r.abnormal_fraction)),
             "abnormal share": _fmt(r.abnormal_share, 2), "test AUROC [95 % CI]": _ci(r.test_auroc, r.lo, r.hi)}
            for r in imb.itertuples()
        ]  # fmt: skip
        out.append("<h3>Pretraining pool imbalance</h3>" + _table(irows, left=("body part", "method")))
    return "".join(out)


def _comparison(ctx: Context) -> str:
    rows = []
    for r in analysis.chosen(ctx.board).itertuples():
        rows.append({"name": f"{r.method}: {r.recipe} ({r.body_part}, pool {r.abnormal_fraction})", "kind": "ssl",
                     "test_auroc": r.test_auroc, "test_lo": r.test_lo, "test_hi": r.test_hi})  # fmt: skip
    for r in ctx.refs.itertuples():
        rows.append({"name": f"{r.model} ({r.body_part})", "kind": r.kind, "test_auroc": r.test_auroc,
                     "test_lo": r.test_lo, "test_hi": r.test_hi})  # fmt: skip
    if not rows:
        return ""
    frame = pd.DataFrame(rows)
    return (
        "<h2>SSL vs supervised vs floors</h2><p class='note'>SSL: the recipe chosen on validation, frozen encoder + "
        "logistic regression on all training labels. Floors: an untrained encoder and raw pixels with the same "
        "probe.</p>" + _img(plots.comparison_plot(frame), "comparison")
    )


PER_PART_HEADS = {"imagenet": "ImageNet features + LR", "supervised": "supervised", "random_floor": "random floor",
                  "pixels_floor": "pixel floor"}  # fmt: skip


def _per_part(ctx: Context) -> str:
    """The seed study's table, one row per body part (the same table as STUDY/results.csv and report --json)."""
    from xrayssl.report.results import write_results_csv

    table = analysis.per_part_table(ctx.board, ctx.refs, ctx.config.methods)
    if table.empty:
        return ""
    csv = write_results_csv(table, ctx.study)
    methods = [c[: -len("_recipe")] for c in table.columns if c.endswith("_recipe")]
    rows = []
    for r in table.to_dict(orient="records"):
        row = {"body part": _fmt(r["body_part"])}
        for m in methods:
            recipe = f"<br><span class='note'>{_fmt(r[f'{m}_recipe'])}</span>" if r[f"{m}_recipe"] else ""
            row[f"{html.escape(m)}: best recipe on val"] = _ci(r[f"{m}_auroc"], r[f"{m}_lo"], r[f"{m}_hi"]) + recipe
        for key, head in PER_PART_HEADS.items():
            row[head] = _ci(r[f"{key}_auroc"], r[f"{key}_lo"], r[f"{key}_hi"])
        rows.append(row)
    notes = "".join(
        f"<p class='note'>{html.escape(s['reference'])} ({html.escape(s['body_part'])}) skipped: "
        f"{html.escape(s['reason'])}</p>"
        for s in analysis.skipped_references(ctx.store)
    )
    return (
        "<h2>Per body part</h2><p class='note'>Test AUROC [95 % CI] per body part, as the seed study reported it: "
        f"each SSL method's recipe chosen on validation (pool {_fmt(table['pool'].iloc[0])}; t-interval over seeds, "
        "or the run's patient bootstrap for one seed), ImageNet features + logistic regression, the supervised "
        "baseline with its largest label share, and the floors (patient bootstrap). '-': did not run. Also in "
        f"<code>{html.escape(csv.name)}</code> and <code>xrayssl report STUDY --json</code>.</p>"
        + _table(rows, left=("body part",))
        + notes
    )


def _label_efficiency(ctx: Context) -> str:
    final, store = ctx.final, ctx.store
    curves = []
    for b in (final or {}).get("best", []):
        lf = b["label_fractions"]
        curves.append(_curve(f"{b['method']}: {b['recipe']} ({b['body_part']})", "ssl", lf))
    for r in store.runs(kind="floor", status="done"):
        if r["result"].get("label_fractions"):
            curves.append(_curve(f"{r['params']['encoder']} floor", "floor", r["result"]["label_fractions"]))
    sup = sorted(store.runs(kind="supervised", status="done"), key=lambda r: r["params"]["label_fraction"])
    by_part: dict[str, list] = {}
    for r in sup:
        by_part.setdefault(r["params"]["body_part"] or "all", []).append(r)
    for part, rs in by_part.items():
        ci = [r["result"]["test_auroc_ci"] or [None, None] for r in rs]
        curves.append(
            {"name": f"supervised ({part})", "kind": "supervised",
             "fractions": [r["params"]["label_fraction"] for r in rs], "auroc": [r["result"]["test_auroc"] for r in rs],
             "lo": [c[0] for c in ci], "hi": [c[1] for c in ci]}
        )  # fmt: skip
    if not curves:
        return "<h2>Label efficiency</h2><p class='note'>computed when the study has finished</p>"
    return (
        "<h2>Label efficiency</h2><p class='note'>Test AUROC when only a share of training patients is labelled "
        "(drawn by patient; SSL and floors: mean and 95 % CI over 3 draws; supervised: one model per share, "
        "patient-bootstrap CI).</p>" + _img(plots.label_efficiency_plot(curves), "label efficiency")
    )


def _curve(name: str, kind: str, lf: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "fractions": [x["fraction"] for x in lf],
        "auroc": [x["auroc"] for x in lf],
        "lo": [(x["auroc_ci"] or [None, None])[0] for x in lf],
        "hi": [(x["auroc_ci"] or [None, None])[1] for x in lf],
    }


def _gradcam(ctx: Context) -> str:
    final, study = ctx.final, ctx.study
    if not final:
        return "<h2>Grad-CAM</h2><p class='note'>drawn when the study has finished</p>"
    columns = [(f"{b['method']}: {b['recipe']}", b["gradcam"], b["body_part"]) for b in final["best"]]
    columns += [("supervised", s["gradcam"], s["body_part"]) for s in final["supervised"]]
    out = [
        "<h2>Grad-CAM</h2><p class='note'>Where each model looks on test images, by outcome. Faithfulness: "
        "deletion AUC of random order minus Grad-CAM order (higher: removing the highlighted pixels first changes "
        "the prediction faster, so the map points at what the model uses).</p>"
    ]
    rows = [
        {"model": html.escape(name), "body part": part, "layer": g["layer"],
         "faithfulness": _fmt(g["faithfulness"]["score"]),
         "deletion AUC (Grad-CAM / random)":
             f"{g['faithfulness']['deletion_auc_gradcam']:.3f} / {g['faithfulness']['deletion_auc_random']:.3f}"}
        for name, g, part in columns
    ]  # fmt: skip
    out.append(_table(rows, left=("model", "body part")))
    # one heading per (body part, outcome) as Grad-CAM recorded them; older studies only have file names
    panels: dict[str, dict[str, str]] = {}  # heading -> model title -> image
    for title, g, _ in columns:
        for p in g.get("panels") or [{"file": f, "heading": Path(f).stem.replace("_", " ")} for f in g["images"]]:
            heading = p.get("heading") or f"{p['body_part']}: {p['outcome']}"
            panels.setdefault(heading, {})[title] = p["file"]
    for heading, by_model in panels.items():
        figs = [
            f"<figure>{_img(plots.file_uri(study / f), title)}<figcaption>{html.escape(title)}</figcaption></figure>"
            for title, f in by_model.items()
            if (study / f).is_file()
        ]
        if figs:
            out.append(f"<h3>{html.escape(heading)}</h3><div class='gallery'>{''.join(figs)}</div>")
    return "".join(out)


def _runs(ctx: Context) -> str:
    store = ctx.store
    rows, envs = [], {}
    for r in store.runs():
        res = r["result"] or {}
        peak = res.get("peak") or {}
        run_dir = res.get("run")
        env = None
        if run_dir:
            record = Path(store.path.parent) / run_dir / "record.json"
            if record.is_file():
                env = json.loads(record.read_text()).get("environment")
        if env:
            key = json.dumps(env, sort_keys=True)
            envs.setdefault(key, len(envs) + 1)
        rows.append(
            {"run": html.escape(r["id"]), "status": r["status"], "host": html.escape(r["host"] or "-"),
             "seconds": _fmt(res.get("seconds"), 1),
             "pairs/s": _fmt((res.get("pretrain") or {}).get("pairs_per_second"), 0),
             "peak RSS (MiB)": _fmt(peak.get("peak_rss_mib"), 0), "peak GPU (MiB)": _fmt(peak.get("peak_gpu_mib"), 0),
             "environment": envs.get(json.dumps(env, sort_keys=True), "-") if env else "-",
             "error": html.escape((r["error"] or "").strip().splitlines()[-1]) if r["error"] else ""}
        )  # fmt: skip
    env_rows = [
        {"environment": i, **{k: html.escape(str(v)) for k, v in json.loads(k_).items()}} for k_, i in envs.items()
    ]
    return (
        "<h2>Runs</h2><p class='note'>Peak RSS is the worker process's high-water mark so far.</p>"
        + _table(rows, left=("run", "status", "host", "error"))
        + "<h3>Hardware and versions</h3>"
        + _table(env_rows)
    )

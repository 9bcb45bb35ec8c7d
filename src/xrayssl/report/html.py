"""``xrayssl report STUDY --out report.html``: everything a reader needs to judge the study, in one file."""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from xrayssl.errors import XraySSLError
from xrayssl.report import plots
from xrayssl.study import analysis
from xrayssl.study.config import StudyConfig
from xrayssl.study.store import Store

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;
 padding:0 1em;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ddd;padding:3px 7px;
 text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}img{max-width:100%}
.note{color:#555;font-size:.9em}.ok{color:#17692b;font-weight:600}.bad{color:#a11;font-weight:600}
.gallery{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1em}.gallery figure{margin:0}
figcaption{font-size:.85em;color:#444}
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


def _img(uri: str, alt: str) -> str:
    return f"<img src='{uri}' alt='{html.escape(alt)}'>"


def build_report(study: str | Path, out: str | Path | None = None) -> Path:
    study = Path(study)
    store = Store(study)
    stored = store.get_meta("config")
    config = StudyConfig.from_dict({**stored, "out": str(study)})
    frame = analysis.ssl_frame(store)
    board = analysis.leaderboard(frame)
    refs = analysis.references(store)
    final = next((r["result"] for r in store.runs(kind="finalize", status="done")), None)
    counts = store.counts()
    factors = list(config.augmentations)
    sections = [
        _overview(config, counts, board, refs),
        _dataset(config),
        _leaderboard(board),
        _effects(config, frame, factors),
        _stability(frame),
        _claims(frame),
        _comparison(board, refs),
        _per_part(study, analysis.per_part_table(board, refs, config.methods), analysis.skipped_references(store)),
        _label_efficiency(final, store),
        _gradcam(final, study),
        _runs(store),
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>xrayssl study report: {html.escape(study.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>xrayssl study report: {html.escape(study.name)}</h1>"
        f"<p class='note'>generated {time.strftime('%Y-%m-%d %H:%M')} from {html.escape(str(study.resolve()))}</p>"
        + "".join(sections)
        + "</body></html>"
    )
    target = Path(out) if out else study / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


def _overview(config: StudyConfig, counts: dict[str, int], board: pd.DataFrame, refs: pd.DataFrame) -> str:
    shared = config.shared_pretrain()  # the study's run length rule, not a copy of its default
    budget = " or ".join(x for x in (f"{shared['epochs']} epochs" if shared["epochs"] else "", shared["budget"]) if x)
    items = [
        f"<b>methods</b> {', '.join(config.methods)}; <b>design</b> {config.design} over "
        f"{', '.join(config.augmentations)}; <b>seeds</b> {config.seeds}; <b>pretraining budget</b> {budget} per run",
        f"<b>runs</b> {counts.get('done', 0)} done, {counts.get('pending', 0) + counts.get('running', 0)} to do, "
        f"{counts.get('failed', 0)} failed",
    ]
    best = board[board["rank"] == 1] if len(board) else board
    for r in best.itertuples():
        items.append(
            f"<b>{html.escape(r.method)}</b> ({html.escape(str(r.body_part))}, pool {r.abnormal_fraction}): "
            f"best recipe on validation <b>{html.escape(r.recipe)}</b>, "
            f"test AUROC {_ci(r.test_auroc, r.test_lo, r.test_hi)} over {r.n_seeds} seed(s)"
        )
    for r in refs.itertuples():
        items.append(f"{html.escape(r.model)} ({r.body_part}): test AUROC {_ci(r.test_auroc, r.test_lo, r.test_hi)}")
    return (
        "<h2>Answer</h2><ul>"
        + "".join(f"<li>{i}</li>" for i in items)
        + "</ul><p class='note'>Recipes are chosen on the validation split; the test split is only reported. "
        "Intervals are 95 %: t over seeds for recipes, patient bootstrap for single runs.</p>"
    )


def _dataset(config: StudyConfig) -> str:
    from xrayssl.data.cache import PreparedCache
    from xrayssl.data.summary import LABEL_NAMES

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


def _leaderboard(board: pd.DataFrame) -> str:
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


def _effects(config: StudyConfig, frame: pd.DataFrame, factors: list[str]) -> str:
    if frame.empty:
        return ""
    out = ["<h2>Augmentation effects</h2>"]
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


def _stability(frame: pd.DataFrame) -> str:
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


def _claims(frame: pd.DataFrame) -> str:
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


def _comparison(board: pd.DataFrame, refs: pd.DataFrame) -> str:
    rows = []
    best = board[board["rank"] == 1] if len(board) else board
    for r in best.itertuples():
        rows.append({"name": f"{r.method}: {r.recipe} ({r.body_part}, pool {r.abnormal_fraction})", "kind": "ssl",
                     "test_auroc": r.test_auroc, "test_lo": r.test_lo, "test_hi": r.test_hi})  # fmt: skip
    for r in refs.itertuples():
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


def _per_part(study: Path, table: pd.DataFrame, skipped: list[dict[str, Any]]) -> str:
    """The seed study's table, one row per body part (the same table as STUDY/results.csv and report --json)."""
    from xrayssl.report.results import write_results_csv

    if table.empty:
        return ""
    csv = write_results_csv(table, study)
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
        for s in skipped
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


def _label_efficiency(final: dict[str, Any] | None, store: Store) -> str:
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


def _gradcam(final: dict[str, Any] | None, study: Path) -> str:
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
    names = sorted({Path(p).name for _, g, _ in columns for p in g["images"]})
    for name in names:
        figs = []
        for title, g, _ in columns:
            match = [p for p in g["images"] if Path(p).name == name]
            if match and (study / match[0]).is_file():
                figs.append(
                    f"<figure>{_img(plots.file_uri(study / match[0]), title)}<figcaption>{html.escape(title)}"
                    "</figcaption></figure>"
                )
        if figs:
            out.append(
                f"<h3>{html.escape(Path(name).stem.replace('_', ' '))}</h3><div class='gallery'>{''.join(figs)}</div>"
            )
    return "".join(out)


def _runs(store: Store) -> str:
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

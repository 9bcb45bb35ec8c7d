"""Curves read from the runs' folders: ROC on the test images, training logs, label efficiency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from xrayssl.report import plots
from xrayssl.report.markup import esc, img
from xrayssl.report.results import StudyResults
from xrayssl.study.analysis import chosen, run_predictions, seed_runs


def roc(res: StudyResults) -> str:
    """ROC curves on the test images: each method's recipe chosen on validation, the supervised models, floors."""
    results = {r["id"]: r["result"] for r in res.runs if r["status"] == "done"}
    curves: dict[str, list[dict[str, Any]]] = {}
    frame = res.frame
    for r in chosen(res.board).itertuples():
        runs = seed_runs(frame, r)
        pool = "" if frame["abnormal_fraction"].nunique() < 2 else f", pool {r.abnormal_fraction}"
        result = results.get(runs["run_id"].iloc[0])
        _add_curve(curves, res.study, result, f"{r.method}: {r.recipe}{pool}", "ssl", r.body_part)
    for r in res.refs.itertuples():
        _add_curve(curves, res.study, results.get(r.run_id), r.model, r.kind, r.body_part)
    if not curves:
        return ""
    return (
        "<h2>ROC curves</h2><p class='note'>Test images; SSL: the first seed of the recipe chosen on validation, "
        "frozen encoder + probe. Runs from before predictions were stored are left out.</p><div class='gallery'>"
        + "".join(
            f"<figure>{img(plots.roc_plot(c), f'ROC {part}')}<figcaption>body part: {esc(part)}</figcaption></figure>"
            for part, c in curves.items()
        )
        + "</div>"
    )


def _add_curve(curves: dict, study: Path, result: dict | None, name: str, kind: str, part: Any) -> None:
    pred = run_predictions(study, result)
    if pred is not None and "prob" in pred.columns and pred["label"].nunique() == 2:  # binary tasks only
        curves.setdefault(part, []).append({"name": name, "kind": kind, "label": pred["label"], "prob": pred["prob"]})


def training_log(run: Path) -> pd.DataFrame | None:
    """A run's training log: metrics.csv (step, epoch, seconds, loss, lr, knn_val_score, embedding_std) where the
    run recorded one, else loss.csv (step, epoch, seconds, loss); None when it has neither."""
    for name in ("metrics.csv", "loss.csv"):
        path = run / name
        if path.is_file():
            log = pd.read_csv(path)
            if {"step", "loss"} <= set(log.columns) and len(log):
                return log
    return None


def training(res: StudyResults) -> str:
    if res.frame.empty:
        return ""
    first = res.frame.sort_values("seed").drop_duplicates(["method", "recipe", "body_part", "abnormal_fraction"])
    several = [c for c in ("body_part", "abnormal_fraction") if first[c].nunique() > 1]
    logs: dict[str, dict[str, pd.DataFrame]] = {}
    for r in first.itertuples():
        log = training_log(res.study / r.run) if r.run else None
        if log is not None:
            label = r.recipe + "".join(f", {getattr(r, c)}" for c in several)
            logs.setdefault(r.method, {})[label] = log
    if not logs:
        return ""
    drawn = plots.plottable_logs(logs)
    if not drawn:
        longest = max(len(g) for by in logs.values() for g in by.values())
        return (
            "<h2>Training curves</h2><p class='note'>Not drawn: the runs logged their loss at most "
            f"{longest} time(s), too few points for a curve (the runs were too short to show how they trained).</p>"
        )
    logs = drawn
    return (
        "<h2>Training curves</h2><p class='note'>Each recipe's first seed: the self-supervised loss per step "
        "(moving average over 5 steps) and, where the run watched itself, the validation kNN AUROC. A loss that "
        "falls fast and low can mean a shortcut: views that are easy to match for reasons that say nothing about the "
        "anatomy.</p>" + img(plots.training_plot(logs), "training curves")
    )


def label_efficiency(res: StudyResults) -> str:
    curves = [
        _curve(f"{b['method']}: {b['recipe']} ({b['body_part']})", "ssl", b["label_fractions"])
        for b in (res.final or {}).get("best", [])
    ]
    for r in res.done("floor"):
        if r["result"].get("label_fractions"):
            curves.append(_curve(f"{r['params']['encoder']} floor", "floor", r["result"]["label_fractions"]))
    curves += _supervised_curves(res.done("supervised"))
    if not curves:
        return "<h2>Label efficiency</h2><p class='note'>computed when the study has finished</p>"
    return (
        f"<h2>Label efficiency</h2><p class='note'>Test {esc(res.metric)} when only a share of training patients is "
        "labelled "
        "(drawn by patient; SSL and floors: mean and 95 % CI over 3 draws; supervised: one model per share, "
        "patient-bootstrap CI).</p>" + img(plots.label_efficiency_plot(curves, res.metric), "label efficiency")
    )


def _supervised_curves(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One curve per body part: a supervised model per label share."""
    by_part: dict[str, list] = {}
    for r in sorted(runs, key=lambda r: r["params"]["label_fraction"]):
        by_part.setdefault(r["params"]["body_part"] or "all", []).append(r)
    curves = []
    for part, rs in by_part.items():
        interval = [r["result"]["test_score_ci"] or [None, None] for r in rs]
        curves.append(
            {"name": f"supervised ({part})", "kind": "supervised",
             "fractions": [r["params"]["label_fraction"] for r in rs], "auroc": [r["result"]["test_score"] for r in rs],
             "lo": [c[0] for c in interval], "hi": [c[1] for c in interval]}
        )  # fmt: skip
    return curves


def _curve(name: str, kind: str, lf: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "fractions": [x["fraction"] for x in lf],
        "auroc": [x[x.get("metric", "auroc")] for x in lf],  # the task's primary metric (binary: AUROC)
        "lo": [(x[f"{x.get('metric', 'auroc')}_ci"] or [None, None])[0] for x in lf],
        "hi": [(x[f"{x.get('metric', 'auroc')}_ci"] or [None, None])[1] for x in lf],
    }

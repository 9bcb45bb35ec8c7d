"""Per class (or per finding) and the confusion matrix: what a task beyond normal/abnormal needs to be read."""

from __future__ import annotations

from typing import Any

from xrayssl.report.markup import ci, esc, fmt, table
from xrayssl.report.results import StudyResults
from xrayssl.study.analysis import chosen, seed_runs


def models(res: StudyResults) -> list[tuple[str, dict[str, Any]]]:
    """(name, overall metrics) of each method's recipe chosen on validation (its first seed) and of the supervised
    model with the most labels, where their stored results carry the task's metrics."""
    results = {r["id"]: r["result"] or {} for r in res.runs if r["status"] == "done"}
    out = []
    for r in chosen(res.board).itertuples():
        first = seed_runs(res.frame, r)["run_id"].iloc[0]
        where = "" if r.body_part == "all" else f", {r.body_part}"
        out.append((f"{r.method}: {r.recipe}{where}", results.get(first, {}).get("overall") or {}))
    supervised = res.refs[res.refs["kind"] == "supervised"] if len(res.refs) else res.refs
    for r in supervised.sort_values("label_fraction", ascending=False).drop_duplicates("body_part").itertuples():
        where = "" if r.body_part == "all" else f", {r.body_part}"
        out.append((f"{r.model}{where}", results.get(r.run_id, {}).get("overall") or {}))
    return [(name, overall) for name, overall in out if overall.get("per_class") or overall.get("per_finding")]


def classes(res: StudyResults) -> str:
    """Each class's (finding's) one-vs-rest AUROC with its interval, per model; a confusion matrix per model."""
    task = res.task
    if task.kind == "binary":
        return ""
    found = models(res)
    if not found:
        return ""
    key, what = ("per_finding", "finding") if task.kind == "multilabel" else ("per_class", "class")
    rows = []
    for name in task.classes:
        row: dict[str, Any] = {what: esc(name)}
        for model, overall in found:
            cell = overall.get(key, {}).get(name)
            interval = (cell or {}).get("auroc_ci") or (None, None)
            row[f"{esc(model)}: AUROC [95 % CI]"] = ci(cell["auroc"], *interval) if cell else "-"
        first = found[0][1].get(key, {}).get(name) or {}
        row["test images"], row["prevalence"] = first.get("n", "-"), fmt(first.get("prevalence"), 2)
        rows.append(row)
    out = [
        f"<h2>Per {what}</h2><p class='note'>One-vs-rest test AUROC of each {what} (patient-bootstrap 95 % CI): "
        "each method's recipe chosen on validation (first seed) and the supervised model with the most labels.</p>",
        table(rows, left=(what,)),
    ]
    for model, overall in found:
        if overall.get("confusion"):
            out.append(f"<h3>Confusion matrix: {esc(model)}</h3>" + confusion_table(task.classes, overall["confusion"]))
    return "".join(out)


def confusion_table(names: tuple[str, ...], counts: list[list[int]]) -> str:
    """Rows: the true class; columns: the predicted one (the most probable)."""
    rows = [
        {"true \\ predicted": esc(name), **{esc(other): int(n) for other, n in zip(names, line, strict=True)}}
        for name, line in zip(names, counts, strict=True)
    ]
    return table(rows, left=("true \\ predicted",))

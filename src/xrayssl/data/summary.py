"""What a dataset holds, as one JSON-ready dict (used by ``data inspect`` and stored in the cache)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from xrayssl.data.manifest import LABEL_NAMES as LABEL_NAMES  # binary names, for callers that show labels
from xrayssl.data.manifest import Problem, decode_findings
from xrayssl.tasks import BINARY, Task

# a validation or test split with fewer patients than this gives no usable patient-bootstrap interval
MIN_SPLIT_PATIENTS = 10


def split_problems(manifest: pd.DataFrame, task: Task = BINARY) -> list[Problem]:
    """A split that holds one class only (no AUROC can be computed on it) or, for val and test, too few patients
    for a patient-bootstrap interval: problems of the dataset, reported with the others."""
    if manifest.empty or "split" not in manifest:
        return []
    out = []
    for split in ("train", "val", "test"):
        rows = manifest[(manifest["split"] == split) & (manifest["label"] >= 0)]
        if rows.empty:
            continue
        classes = sorted(set(rows["label"]))
        if len(classes) < 2:
            names = ", ".join(task.label_name(int(c)) for c in classes)
            why = f"holds one class only ({len(rows)} {names} image(s)): no AUROC can be computed on it; "
            out.append(Problem(f"split {split}", why + "use other split fractions or more data"))
        patients = rows["patient_id"].nunique()
        if split != "train" and patients < MIN_SPLIT_PATIENTS:
            why = f"{patients} patient(s): too few for a patient-bootstrap interval (at least {MIN_SPLIT_PATIENTS}); "
            out.append(Problem(f"split {split}", why + f"use a larger --{split}-fraction or more data"))
    return out


def summarize(
    manifest: pd.DataFrame,
    problems: list[Problem],
    fmt: str,
    root: str = "",
    task: Task = BINARY,
    task_note: str = "",
) -> dict[str, Any]:
    known = {(p.path, p.problem) for p in problems}  # prepare has added them already
    problems = [*problems, *(p for p in split_problems(manifest, task) if (p.path, p.problem) not in known)]
    counts = (
        manifest.groupby(["split", "body_part", "label"], sort=True)
        .agg(n=("path", "size"), n_patients=("patient_id", "nunique"), n_studies=("study_id", "nunique"))
        .reset_index()
    )
    return {
        "format": fmt,
        "root": root,
        "task": task.to_json(),
        **({"task_note": task_note} if task_note else {}),
        "n_images": len(manifest),
        "n_patients": int(manifest["patient_id"].nunique()),
        "n_studies": int(manifest["study_id"].nunique()),
        "counts": [
            {
                "split": r.split,
                "body_part": r.body_part,
                "label": int(r.label),
                "label_name": task.label_name(int(r.label)),
                "n": int(r.n),
                "n_patients": int(r.n_patients),
                "n_studies": int(r.n_studies),
            }
            for r in counts.itertuples()
        ],
        **({"finding_counts": finding_counts(manifest, task)} if task.kind == "multilabel" else {}),
        "problems": [problem.as_dict() for problem in problems],
    }


def finding_counts(manifest: pd.DataFrame, task: Task) -> list[dict[str, Any]]:
    """Multilabel: per split and finding, the images positive, negative and missing (-1) for it."""
    out = []
    codes = decode_findings(manifest["findings"], len(task.classes))
    grid = pd.DataFrame(codes, columns=list(task.classes), index=manifest.index)
    for split, rows in grid.groupby(manifest["split"], sort=True):
        for finding in task.classes:
            values = rows[finding]
            out.append({"split": split, "finding": finding, "positive": int((values == 1).sum()),
                        "negative": int((values == 0).sum()), "missing": int((values < 0).sum())})  # fmt: skip
    return out


def format_summary(summary: dict[str, Any], max_problems: int = 20) -> str:
    """The human-readable table printed by ``xrayssl data inspect``."""
    lines = [
        f"{summary['root']}  (format: {summary['format']}"
        + (f", read from {summary['csv']})" if summary.get("csv") else ")"),
        _task_line(summary.get("task")) + (f"  [{summary['task_note']}]" if summary.get("task_note") else ""),
        f"{summary['n_images']} images, {summary['n_patients']} patients, {summary['n_studies']} studies",
        "",
        f"{'split':<6} {'body part':<14} {'label':<14} {'images':>7} {'patients':>9} {'studies':>8}",
    ]
    for count in summary["counts"]:
        lines.append(
            f"{count['split']:<6} {count['body_part'] or '-':<14} {count['label_name']:<14} {count['n']:>7} "
            f"{count['n_patients']:>9} {count['n_studies']:>8}"
        )
    lines += _finding_lines(summary.get("finding_counts", []))
    problems = summary["problems"]
    lines += ["", f"{len(problems)} problem(s)" + (":" if problems else "")]
    for problem in problems[:max_problems]:
        lines.append(f"  {problem['path']}: {problem['problem']}")
    if len(problems) > max_problems:
        lines.append(f"  ... and {len(problems) - max_problems} more (--json lists all)")
    return "\n".join(lines)


def _finding_lines(counts: list[dict[str, Any]]) -> list[str]:
    if not counts:
        return []
    width = max(14, *(len(c["finding"]) for c in counts))
    lines = ["", f"{'split':<6} {'finding':<{width}} {'positive':>8} {'negative':>8} {'missing':>8}"]
    for c in counts:
        lines.append(f"{c['split']:<6} {c['finding']:<{width}} {c['positive']:>8} {c['negative']:>8} {c['missing']:>8}")
    return lines


def _task_line(task: dict[str, Any] | None) -> str:
    t = Task.from_json(task)
    normal = f"; normal: {', '.join(t.classes[i] for i in t.normal)}" if t.normal and t.kind != "binary" else ""
    what = "findings" if t.kind == "multilabel" else "classes"
    return f"task: {t.kind} ({what}: {', '.join(t.classes)}{normal})"

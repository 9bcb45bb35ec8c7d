"""What a dataset holds, as one JSON-ready dict (used by ``data inspect`` and stored in the cache)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from xrayssl.data.manifest import LABEL_NAMES as LABEL_NAMES  # binary names, for callers that show labels
from xrayssl.data.manifest import Problem
from xrayssl.tasks import BINARY, Task


def summarize(
    manifest: pd.DataFrame, problems: list[Problem], fmt: str, root: str = "", task: Task = BINARY
) -> dict[str, Any]:
    counts = (
        manifest.groupby(["split", "body_part", "label"], sort=True)
        .agg(n=("path", "size"), n_patients=("patient_id", "nunique"), n_studies=("study_id", "nunique"))
        .reset_index()
    )
    return {
        "format": fmt,
        "root": root,
        "task": task.to_json(),
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
        "problems": [problem.as_dict() for problem in problems],
    }


def format_summary(summary: dict[str, Any], max_problems: int = 20) -> str:
    """The human-readable table printed by ``xrayssl data inspect``."""
    lines = [
        f"{summary['root']}  (format: {summary['format']})",
        _task_line(summary.get("task")),
        f"{summary['n_images']} images, {summary['n_patients']} patients, {summary['n_studies']} studies",
        "",
        f"{'split':<6} {'body part':<14} {'label':<14} {'images':>7} {'patients':>9} {'studies':>8}",
    ]
    for count in summary["counts"]:
        lines.append(
            f"{count['split']:<6} {count['body_part'] or '-':<14} {count['label_name']:<14} {count['n']:>7} "
            f"{count['n_patients']:>9} {count['n_studies']:>8}"
        )
    problems = summary["problems"]
    lines += ["", f"{len(problems)} problem(s)" + (":" if problems else "")]
    for problem in problems[:max_problems]:
        lines.append(f"  {problem['path']}: {problem['problem']}")
    if len(problems) > max_problems:
        lines.append(f"  ... and {len(problems) - max_problems} more (--json lists all)")
    return "\n".join(lines)


def _task_line(task: dict[str, Any] | None) -> str:
    t = Task.from_json(task)
    normal = f"; normal: {', '.join(t.classes[i] for i in t.normal)}" if t.normal and t.kind != "binary" else ""
    what = "findings" if t.kind == "multilabel" else "classes"
    return f"task: {t.kind} ({what}: {', '.join(t.classes)}{normal})"

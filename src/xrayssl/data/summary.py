"""What a dataset holds, as one JSON-ready dict (used by ``data inspect`` and stored in the cache)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from xrayssl.data.manifest import LABEL_NAMES, Problem

# a validation or test split with fewer patients than this gives no usable patient-bootstrap interval
MIN_SPLIT_PATIENTS = 10


def split_problems(manifest: pd.DataFrame) -> list[Problem]:
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
            names = ", ".join(str(LABEL_NAMES.get(int(c), c)) for c in classes)
            why = f"holds one class only ({len(rows)} {names} image(s)): no AUROC can be computed on it; "
            out.append(Problem(f"split {split}", why + "use other split fractions or more data"))
        patients = rows["patient_id"].nunique()
        if split != "train" and patients < MIN_SPLIT_PATIENTS:
            why = f"{patients} patient(s): too few for a patient-bootstrap interval (at least {MIN_SPLIT_PATIENTS}); "
            out.append(Problem(f"split {split}", why + f"use a larger --{split}-fraction or more data"))
    return out


def summarize(manifest: pd.DataFrame, problems: list[Problem], fmt: str, root: str = "") -> dict[str, Any]:
    known = {(p.path, p.problem) for p in problems}  # prepare has added them already
    problems = [*problems, *(p for p in split_problems(manifest) if (p.path, p.problem) not in known)]
    counts = (
        manifest.groupby(["split", "body_part", "label"], sort=True)
        .agg(n=("path", "size"), n_patients=("patient_id", "nunique"), n_studies=("study_id", "nunique"))
        .reset_index()
    )
    return {
        "format": fmt,
        "root": root,
        "n_images": len(manifest),
        "n_patients": int(manifest["patient_id"].nunique()),
        "n_studies": int(manifest["study_id"].nunique()),
        "counts": [
            {
                "split": r.split,
                "body_part": r.body_part,
                "label": int(r.label),
                "label_name": LABEL_NAMES[int(r.label)],
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
        f"{summary['root']}  (format: {summary['format']}"
        + (f", read from {summary['csv']})" if summary.get("csv") else ")"),
        f"{summary['n_images']} images, {summary['n_patients']} patients, {summary['n_studies']} studies",
        "",
        f"{'split':<6} {'body part':<14} {'label':<10} {'images':>7} {'patients':>9} {'studies':>8}",
    ]
    for count in summary["counts"]:
        lines.append(
            f"{count['split']:<6} {count['body_part'] or '-':<14} {count['label_name']:<10} {count['n']:>7} "
            f"{count['n_patients']:>9} {count['n_studies']:>8}"
        )
    problems = summary["problems"]
    lines += ["", f"{len(problems)} problem(s)" + (":" if problems else "")]
    for problem in problems[:max_problems]:
        lines.append(f"  {problem['path']}: {problem['problem']}")
    if len(problems) > max_problems:
        lines.append(f"  ... and {len(problems) - max_problems} more (--json lists all)")
    return "\n".join(lines)

"""Evaluate a model's probabilities on the test split: overall, per body part, image- and study-level,
with patient-bootstrap intervals; and the probe's label-efficiency over patient-drawn label fractions."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from xrayssl.catalog import N_BOOT
from xrayssl.data.selection import patient_fraction
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.metrics import bootstrap_metrics, mean_ci, study_level
from xrayssl.tasks import BINARY, Task, evaluate, metric_range, primary_score


def metrics_report(
    frame: pd.DataFrame,
    threshold: float | None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    task: Task = BINARY,
    y: np.ndarray | None = None,
    prob: np.ndarray | None = None,
) -> dict[str, Any]:
    """The task's metrics with their intervals (``tasks.evaluate``), overall and per body part; for binary also
    study-level where studies hold several views (MURA's protocol). ``frame``: one row per test image with
    patient_id, study_id, body_part; ``y`` and ``prob``: the task's labels and scores ((n, K) for other tasks;
    default: the frame's label and prob columns)."""
    y = frame["label"].to_numpy() if y is None else np.asarray(y)
    prob = frame["prob"].to_numpy() if prob is None else np.asarray(prob)
    binary = {"threshold": threshold} if task.kind == "binary" else {}

    def block(mask: np.ndarray) -> dict[str, Any]:
        f = frame[mask]
        out = evaluate(task, y[mask], prob[mask], f["patient_id"].to_numpy(), n_boot=n_boot, seed=seed, **binary)
        if task.kind == "binary":
            study = None
            if f["study_id"].nunique() < len(f):  # several views per study: MURA's study-level protocol too
                s = study_level(f.assign(prob=prob[mask], label=y[mask]))
                study = bootstrap_metrics(s["label"], s["prob"], s["patient_id"], threshold, n_boot, seed)
            out["study_level"] = study
        return out

    result = {"overall": block(np.ones(len(frame), bool)), "per_body_part": {}}
    parts = sorted(set(frame["body_part"]) - {""})
    if len(parts) > 1:
        for part in parts:
            mask = (frame["body_part"] == part).to_numpy()
            if _two_kinds(task, y[mask]):
                result["per_body_part"][part] = block(mask)
    return result


def _two_kinds(task: Task, y: np.ndarray) -> bool:
    """Whether a subset has the labels its primary metric needs (two classes; a finding with both values)."""
    if task.kind == "multilabel":
        return bool(((y == 1).any(0) & (y == 0).any(0)).any())
    return len(np.unique(y[y >= 0])) >= 2


def label_efficiency(
    x: dict[str, np.ndarray],
    rows: dict[str, pd.DataFrame],
    fractions: list[float],
    seeds: int,
    base_seed: int = 0,
    task: Task = BINARY,
    y: dict[str, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """The probe's test primary metric (binary: AUROC) when only a fraction of the training patients are
    labelled, over several seeds; ``y``: the task's labels per split (default: the rows' label column). Keys are
    named by the metric (``auroc``, ``auroc_ci``, ``auroc_per_seed``; ``qwk``... for ordinal) and ``metric``
    names it."""
    y = y or {s: r["label"].to_numpy() for s, r in rows.items()}
    name = task.primary
    lo_range, hi_range = metric_range(name)
    out = []
    for fraction in fractions:
        scores = []
        for s in range(seeds):
            sub = (
                patient_fraction(rows["train"], fraction, base_seed + s)
                if fraction < 1
                else np.arange(len(rows["train"]))
            )
            with warnings.catch_warnings():  # a small draw may miss a class: the full probe has warned already
                warnings.simplefilter("ignore", UserWarning)
                probe = LinearProbe(task).fit(x["train"][sub], y["train"][sub], x["val"], y["val"])
            scores.append(float(primary_score(task, y["test"], probe.predict_proba(x["test"]))))
            if fraction >= 1:
                break  # all labels: every seed would fit the same probe
        mean, lo, hi = mean_ci(scores)
        ci = None if lo is None else [max(lo_range, lo), min(hi_range, hi)]  # t-interval over seeds, in range
        out.append(
            {
                "fraction": fraction,
                "metric": name,
                name: mean,
                f"{name}_ci": ci,
                f"{name}_per_seed": scores,
                "n_train_patients": int(rows["train"].iloc[sub]["patient_id"].nunique())
                if fraction < 1
                else int(rows["train"]["patient_id"].nunique()),
            }
        )
    return out

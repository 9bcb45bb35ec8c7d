"""Classification metrics with 95 % bootstrap intervals resampled by patient, and study-level pooling.

Pure functions of arrays: easy to test exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score, roc_auc_score, roc_curve

METRICS = ("auroc", "accuracy", "balanced_accuracy", "f1", "sensitivity", "specificity", "kappa")


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises sensitivity + specificity (chosen on validation data)."""
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(y, p)
    best = int(np.argmax(tpr - fpr))
    return float(min(1.0, thr[best]))


def point_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    y = np.asarray(y).astype(int)
    pred = (np.asarray(p) >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    both = len(np.unique(y)) == 2
    return {
        "auroc": float(roc_auc_score(y, p)) if both else float("nan"),
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "balanced_accuracy": (sens + spec) / 2,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "sensitivity": sens,
        "specificity": spec,
        "kappa": float(cohen_kappa_score(y, pred)) if both or len(np.unique(pred)) == 2 else float("nan"),
    }


def bootstrap_metrics(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Point estimates and 95 % percentile intervals; each resample draws whole patients (``groups``) with
    replacement, so images of one patient stay together (they are not independent)."""
    y, p, groups = np.asarray(y).astype(int), np.asarray(p, dtype=float), np.asarray(groups)
    point = point_metrics(y, p, threshold)
    codes, uniq = pd.factorize(groups)
    members = [np.flatnonzero(codes == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    draws = {m: [] for m in METRICS}
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[g] for g in pick])
        if len(np.unique(y[idx])) < 2:
            continue
        for m, v in point_metrics(y[idx], p[idx], threshold).items():
            draws[m].append(v)
    out: dict[str, Any] = {"n": len(y), "n_patients": len(uniq), "n_abnormal": int(y.sum()), "threshold": threshold}
    for m in METRICS:
        out[m] = point[m]
        vals = np.array(draws[m], dtype=float)
        vals = vals[np.isfinite(vals)]
        out[f"{m}_ci"] = [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))] if len(vals) else None
    return out


def study_level(frame: pd.DataFrame) -> pd.DataFrame:
    """MURA's protocol: a study's probability is the mean of its images' probabilities.

    ``frame`` has columns study_id, patient_id, label, prob (and optionally body_part)."""
    agg = {"label": "max", "prob": "mean", "patient_id": "first"}
    if "body_part" in frame:
        agg["body_part"] = "first"
    return frame.groupby("study_id", sort=False).agg(agg).reset_index()

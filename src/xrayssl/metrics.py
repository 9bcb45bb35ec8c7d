"""Classification metrics with 95 % bootstrap intervals resampled by patient, and study-level pooling.

Pure functions of arrays: easy to test exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

from xrayssl.catalog import N_BOOT

METRICS = ("auroc", "accuracy", "balanced_accuracy", "f1", "sensitivity", "specificity", "kappa")


def youden_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises sensitivity + specificity (chosen on validation data)."""
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(y, p)
    best = int(np.argmax(tpr - fpr))
    return float(min(1.0, thr[best]))


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney form of the area under the ROC curve (ties count half); equals sklearn's roc_auc_score
    at a fraction of its cost, which matters inside a 1,000-resample bootstrap."""
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def point_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    pred = p >= threshold
    pos = y == 1
    tp = int((pred & pos).sum())
    fp = int((pred & ~pos).sum())
    fn = int((~pred & pos).sum())
    tn = len(y) - tp - fp - fn
    n = len(y)
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    both = 0 < tp + fn < n
    kappa = float("nan")
    if n and (both or 0 < tp + fp < n):  # Cohen's kappa needs two classes in the labels or the predictions
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n**2
        kappa = (po - pe) / (1 - pe) if pe < 1 else float("nan")
    return {
        "auroc": auroc(y, p) if both else float("nan"),
        "accuracy": (tp + tn) / n if n else float("nan"),
        "balanced_accuracy": (sens + spec) / 2,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "sensitivity": sens,
        "specificity": spec,
        "kappa": kappa,
    }


def bootstrap_metrics(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, threshold: float = 0.5, n_boot: int = N_BOOT, seed: int = 0
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


def mean_ci(values) -> tuple[float, float | None, float | None]:
    """Mean and 95 % t-interval over independent repeats (seeds, draws); None with fewer than two values."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), None, None
    m = float(v.mean())
    if len(v) < 2:
        return m, None, None
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def knn_neighbours(train: np.ndarray, query: np.ndarray, k: int = 20) -> np.ndarray:
    """(m, k) indices of each query's ``k`` nearest training rows by cosine distance (L2-normalised here)."""
    a = train / np.maximum(np.linalg.norm(train, axis=1, keepdims=True), 1e-12)
    b = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    k = min(k, len(a))
    return np.argpartition(-(b @ a.T), k - 1, axis=1)[:, :k]


def knn_scores(train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, k: int = 20) -> np.ndarray:
    """Share of abnormal (label 1) training images among each query's ``k`` nearest neighbours by cosine
    distance (features are L2-normalised here); a score for AUROC, no fitting, no hyper-parameter search."""
    return (np.asarray(train_labels)[knn_neighbours(train, query, k)] == 1).mean(1)


def knn_auroc(train: np.ndarray, train_labels: np.ndarray, query: np.ndarray, query_labels: np.ndarray, k: int = 20):
    """Validation kNN AUROC of frozen features (the training monitor): NaN when a class is missing."""
    return auroc(np.asarray(query_labels), knn_scores(train, train_labels, query, k))


def embedding_std(features: np.ndarray) -> float:
    """Collapse indicator: lightly's ``std_of_l2_normalized`` (about 1/sqrt(dim) for well-spread embeddings,
    near 0 when they collapse to one point)."""
    import torch
    from lightly.utils.debug import std_of_l2_normalized

    return float(std_of_l2_normalized(torch.as_tensor(features, dtype=torch.float32)))

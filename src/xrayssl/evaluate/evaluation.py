"""Evaluate a model's probabilities on the test split: overall, per body part, image- and study-level,
with patient-bootstrap intervals; and the probe's label-efficiency over patient-drawn label fractions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from xrayssl.catalog import N_BOOT
from xrayssl.data.selection import patient_fraction
from xrayssl.evaluate.probe import LinearProbe
from xrayssl.metrics import bootstrap_metrics, mean_ci, study_level


def metrics_report(frame: pd.DataFrame, threshold: float, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """The metrics with their intervals, overall and per body part (image- and, where studies hold several views,
    study-level). ``frame``: one row per test image with patient_id, study_id, body_part, label, prob."""

    def block(f: pd.DataFrame) -> dict[str, Any]:
        out = {"image": bootstrap_metrics(f["label"], f["prob"], f["patient_id"], threshold, n_boot, seed)}
        if f["study_id"].nunique() < len(f):  # several views per study: MURA's study-level protocol too
            s = study_level(f)
            out["study"] = bootstrap_metrics(s["label"], s["prob"], s["patient_id"], threshold, n_boot, seed)
        return out

    overall = block(frame)
    result = {"overall": {**overall["image"], "study_level": overall.get("study")}, "per_body_part": {}}
    parts = sorted(set(frame["body_part"]) - {""})
    if len(parts) > 1:
        for part in parts:
            sub = frame[frame["body_part"] == part]
            if sub["label"].nunique() == 2:
                b = block(sub)
                result["per_body_part"][part] = {**b["image"], "study_level": b.get("study")}
    return result


def label_efficiency(
    x: dict[str, np.ndarray], rows: dict[str, pd.DataFrame], fractions: list[float], seeds: int, base_seed: int = 0
) -> list[dict[str, Any]]:
    """Probe test AUROC when only a fraction of the training patients are labelled, over several seeds."""
    out = []
    for fraction in fractions:
        scores = []
        for s in range(seeds):
            sub = (
                patient_fraction(rows["train"], fraction, base_seed + s)
                if fraction < 1
                else np.arange(len(rows["train"]))
            )
            probe = LinearProbe().fit(
                x["train"][sub], rows["train"]["label"].to_numpy()[sub], x["val"], rows["val"]["label"].to_numpy()
            )
            scores.append(float(roc_auc_score(rows["test"]["label"], probe.predict_proba(x["test"]))))
            if fraction >= 1:
                break  # all labels: every seed would fit the same probe
        mean, lo, hi = mean_ci(scores)
        ci = None if lo is None else [max(0.0, lo), min(1.0, hi)]  # t-interval over seeds, within AUROC's range
        out.append(
            {
                "fraction": fraction,
                "auroc": mean,
                "auroc_ci": ci,
                "auroc_per_seed": scores,
                "n_train_patients": int(rows["train"].iloc[sub]["patient_id"].nunique())
                if fraction < 1
                else int(rows["train"]["patient_id"].nunique()),
            }
        )
    return out

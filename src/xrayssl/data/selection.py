"""Selecting labelled rows of a cache: per split, and a patient-level fraction of a split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xrayssl.errors import XraySSLError
from xrayssl.tasks import Task


def labelled_splits(
    manifest: pd.DataFrame, body_part: str | None = None, where: str = "cache", task: Task | None = None
) -> dict[str, pd.DataFrame]:
    """Labelled rows of train/val/test, each with an ``index`` column pointing into the cache; for a
    multilabel ``task`` a row is labelled when any finding is known."""
    m = manifest.assign(index=np.arange(len(manifest)))
    known = m["label"] >= 0
    if task is not None and task.kind == "multilabel":  # label -1 there: no finding positive, some missing
        known |= m["findings"].astype(str).str.contains(r"(?:^|\|)[01](?:\||$)")
    m = m[known]
    if body_part:
        m = m[m["body_part"].str.lower() == body_part.lower()]
    rows = {s: m[m["split"] == s].reset_index(drop=True) for s in ("train", "val", "test")}
    for s, r in rows.items():
        if r["label"].nunique() < 2:
            raise XraySSLError(f"{where}: split '{s}' needs labelled normal and abnormal images")
    return rows


def patient_fraction(frame: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Row positions of a ``fraction`` of the patients, stratified by whether a patient has any abnormal
    image; at least one patient of each kind."""
    patients = frame.groupby("patient_id")["label"].max()
    rng = np.random.default_rng(seed)
    chosen = []
    for _, group in patients.groupby(patients):
        ids = np.array(sorted(group.index))
        rng.shuffle(ids)
        chosen.extend(ids[: max(1, round(fraction * len(ids)))])
    return np.flatnonzero(frame["patient_id"].isin(set(chosen)).to_numpy())

"""Selecting labelled rows of a cache: per split, and a patient-level fraction of a split."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from xrayssl.data.cache import targets as task_targets
from xrayssl.data.splits import patient_strata
from xrayssl.errors import XraySSLError
from xrayssl.tasks import Task

SPLIT_NAMES = ("train", "val", "test")


class LabelledSplits(dict):
    """``{"train", "val", "test"} -> labelled rows`` (a plain dict to read, as before), and what they can be
    scored on: ``task`` is the cache's task, for multilabel restricted to the findings kept; ``findings``
    the kept findings' indices into the cache task's classes (every class for single-label tasks);
    ``dropped`` the names of findings dropped; ``warnings`` what was warned of."""

    def __init__(
        self,
        rows: dict[str, pd.DataFrame],
        task: Task | None = None,
        source: Task | None = None,
        findings: tuple[int, ...] = (),
        dropped: tuple[str, ...] = (),
        said: tuple[str, ...] = (),
    ) -> None:
        super().__init__(rows)
        self.task, self.source, self.findings, self.dropped, self.warnings = task, source, findings, dropped, said

    def targets(self, split: str) -> np.ndarray:
        """The split's labels shaped for ``self.task``: (n,) class indices, or (n, kept findings) of 1/0/-1."""
        return self.labels_of(self[split])

    def labels_of(self, rows: pd.DataFrame) -> np.ndarray:
        """``targets`` for any of these rows (a label fraction of a split, say)."""
        if self.source is None:
            return rows["label"].to_numpy(dtype=np.int64)
        y = task_targets(rows, self.source)
        return y[:, list(self.findings)] if self.source.kind == "multilabel" else y


def labelled_splits(
    manifest: pd.DataFrame, body_part: str | None = None, where: str = "cache", task: Task | None = None
) -> LabelledSplits:
    """Labelled rows of train/val/test, each with an ``index`` column pointing into the cache.

    A split holding a single class is an error naming it; a class in val or test that train lacks is a
    warning. For multilabel ``task`` a row is labelled when any finding is known, and a finding that some split
    has no positive or no negative of (or no label at all) is dropped with a warning: ``findings`` says which
    remain (none remaining is an error)."""
    m = manifest.assign(index=np.arange(len(manifest)))
    if body_part:
        m = m[m["body_part"].str.lower() == body_part.lower()]
    if task is not None and task.kind == "multilabel":
        return _multilabel_splits(m, task, where)
    m = m[m["label"] >= 0]
    rows = {s: m[m["split"] == s].reset_index(drop=True) for s in SPLIT_NAMES}
    name = task.label_name if task is not None else str
    for s, r in rows.items():
        if r["label"].nunique() < 2:
            if task is None or task.kind == "binary":
                raise XraySSLError(f"{where}: split '{s}' needs labelled normal and abnormal images")
            held = ", ".join(f"'{name(int(v))}'" for v in sorted(r["label"].unique())) or "no labelled image"
            raise XraySSLError(
                f"{where}: split '{s}' holds a single class ({held}); a {task.kind} task needs at least two in "
                "every split: re-split the dataset (data prepare --seed, --val-fraction, --test-fraction)"
            )
    said = []
    seen = set(rows["train"]["label"])
    for s in ("val", "test"):
        for label in sorted(set(rows[s]["label"]) - seen):
            said.append(f"{where}: class '{name(int(label))}' is in split '{s}' but not in train: no model "
                        "trained on this cache can predict it")  # fmt: skip
    for text in said:
        warnings.warn(text, stacklevel=2)
    return LabelledSplits(rows, task, task, tuple(range(len(task.classes))) if task else (), (), tuple(said))


def _multilabel_splits(m: pd.DataFrame, task: Task, where: str) -> LabelledSplits:
    y = task_targets(m, task)
    m = m[(y >= 0).any(1)]
    y = y[(y >= 0).any(1)]
    rows = {s: m[m["split"] == s].reset_index(drop=True) for s in SPLIT_NAMES}
    kept, said = [], []
    split = m["split"].to_numpy()
    for j, finding in enumerate(task.classes):
        short = [s for s in SPLIT_NAMES if len(set(y[split == s, j].tolist()) - {-1}) < 2]
        if short:
            said.append(
                f"{where}: finding '{finding}' dropped: split '{short[0]}' has {_held(y[split == short[0], j])}"
            )
        else:
            kept.append(j)
    for text in said:
        warnings.warn(text, stacklevel=3)
    if not kept:
        raise XraySSLError(f"{where}: no finding has positive and negative labels in every split; re-split the "
                           "dataset (data prepare --seed, --val-fraction, --test-fraction)")  # fmt: skip
    sub = replace(task, classes=tuple(task.classes[j] for j in kept))
    dropped = tuple(task.classes[j] for j in range(len(task.classes)) if j not in kept)
    return LabelledSplits(rows, sub, task, tuple(kept), dropped, tuple(said))


def _held(values: np.ndarray) -> str:
    known = values[values >= 0]
    if not len(known):
        return "no label for it"
    return f"only {'positives' if known[0] == 1 else 'negatives'} ({len(known)})"


def patient_fraction(frame: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Row positions of a ``fraction`` of the patients, stratified by the task's label (``patient_strata``:
    the highest class, or for multilabel rows the rarest positive finding); at least one patient of each."""
    patients = patient_strata(frame)
    rng = np.random.default_rng(seed)
    chosen = []
    for _, group in patients.groupby(patients):
        ids = np.array(sorted(group.index))
        rng.shuffle(ids)
        chosen.extend(ids[: max(1, round(fraction * len(ids)))])
    return np.flatnonzero(frame["patient_id"].isin(set(chosen)).to_numpy())

"""The manifest: one row per image, the single table every dataset format is read into.

Columns (in this order):
  path       file path (absolute), or ``file.npz::<split>_images[<i>]`` for an array inside a file
  label      the class index in the dataset's task (binary: 1 = abnormal, 0 = normal), -1 = unlabelled (class
             unknown; still usable for self-supervised pretraining); multilabel: 1 = any finding, 0 = none
  findings   multilabel only: "v1|v2|...|vK", one value per finding in the task's order (1, 0, -1 = missing)
  body_part  lower-case body part ("knee", "shoulder", ...), "" when unknown
  patient_id patient identifier, unique within the dataset
  study_id   study identifier, unique within the dataset (a study holds one or more views)
  split      "train", "val", "test", or "" before splitting
  source     the dataset format that produced the row ("mura", "aihub", "csv", ...)
  meta       JSON object with everything else the source carried (finding text, KL grade, ...)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["path", "label", "findings", "body_part", "patient_id", "study_id", "split", "source", "meta"]
SPLITS = ("train", "val", "test")
# the label column's values by name (-1: no class given or recognised, so "unlabelled", as problems say)
LABEL_NAMES = {1: "abnormal", 0: "normal", -1: "unlabelled"}

NORMAL_NAMES = {"normal", "negative", "neg", "0", "healthy", "no_finding", "nofinding", "no finding"}
ABNORMAL_NAMES = {"abnormal", "positive", "pos", "1", "disease", "diseased", "anomaly", "abnormality"}


def parse_label(value: Any) -> int | None:
    """Map a label as datasets spell it to 1/0, or None when it is not recognisable."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and float(value) in (0.0, 1.0):
        return int(value)
    text = str(value).strip().lower()
    if text in NORMAL_NAMES:
        return 0
    if text in ABNORMAL_NAMES:
        return 1
    return None


@dataclass
class Record:
    """One image as a reader found it, before it becomes a manifest row."""

    path: str
    label: int
    body_part: str = ""
    patient_id: str = ""
    study_id: str = ""
    split: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    # the label as the file spells it, for formats that can carry any task (data/labels.py turns it into ``label``)
    value: str | None = None
    findings: dict[str, str] | None = None  # multilabel: finding name -> value as spelled
    encoded_findings: str = ""  # set by data/labels.py: the manifest's ``findings`` column
    origin: str = ""  # where the label was read ("labels.csv line 7"), for problems with it

    @property
    def label_key(self) -> tuple:
        """What the label says, before or after it is resolved: rows naming one file are compared by it."""
        value = None if self.value is None else self.value.strip()
        spelled = parse_label(value) if value is not None and parse_label(value) is not None else value
        return (self.label, spelled, tuple(sorted((self.findings or {}).items())))

    def label_text(self) -> str:
        if self.findings is not None:
            return ", ".join(f"{k}={v}" for k, v in self.findings.items())
        return self.value if self.value is not None else LABEL_NAMES[self.label]


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file (or one entry in a label file), reported and never fatal alone."""

    path: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "problem": self.problem}


def decode_findings(coded: Iterable[str], k: int) -> np.ndarray:
    """The ``findings`` column as an (n, k) int64 array of 1, 0 and -1 (missing); an empty value is all missing."""
    rows = [list(map(int, f.split("|"))) if f else [-1] * k for f in coded]
    return np.array(rows, dtype=np.int64).reshape(len(rows), k)


def make_manifest(records: Iterable[Record]) -> pd.DataFrame:
    """Build the canonical manifest table; patients and studies default to one per image."""
    rows = []
    for r in records:
        patient = r.patient_id or r.path
        rows.append(
            {
                "path": r.path,
                "label": int(r.label),
                "findings": r.encoded_findings,
                "body_part": (r.body_part or "").strip().lower(),
                "patient_id": str(patient),
                "study_id": str(r.study_id or r.path),
                "split": r.split or "",
                "source": r.source,
                "meta": json.dumps(r.meta, ensure_ascii=False, sort_keys=True, default=str),
            }
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["label"] = df["label"].astype("int64")
    return df


def check_manifest(df: pd.DataFrame, where: str = "manifest") -> None:
    """Raise a clear error when a table does not have the manifest's columns."""
    from xrayssl.errors import XraySSLError

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise XraySSLError(f"{where}: missing columns {missing}; expected {COLUMNS}")
